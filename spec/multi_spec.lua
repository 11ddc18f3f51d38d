-- The C multi handle (falcon.core.multi) on its own: many transfers in flight, results, auth exchanges,
-- and every way a transfer can end early (the multi closed under it, dropped by Lua unfinished).
-- No timing assertions: this spec also runs under valgrind (spec/run --valgrind).
local core = require "falcon.core"
local emulator = require "spec.helpers.emulator"

local QUERY = "/message-center/queries/cases/v1"

describe("falcon.core.multi", function()
  local emu

  setup(function() emu = emulator.start() end)
  teardown(function() if emu then emu:stop() end end)
  before_each(function() emu:control("reset", {}) end)

  local function client()
    return core.client { base_url = emu.url, client_id = emu.client_id, client_secret = emu.client_secret }
  end

  -- Drives the multi handle until every transfer in `pending` has finished; returns their results.
  local function drain(multi, pending)
    local results, left = {}, 0
    for _ in pairs(pending) do left = left + 1 end
    while left > 0 do
      local finished = multi:perform(0.5)
      for _, transfer in ipairs(finished) do
        local key = pending[transfer]
        assert.is_not_nil(key, "a transfer finished that was not added")
        results[key] = { transfer:result() }
        pending[transfer] = nil
        left = left - 1
      end
    end
    return results
  end

  it("runs a token exchange and 32 requests in flight at once on 8 connections", function()
    local c, multi = client(), core.multi(8)
    local token = assert(multi:add(c, "token"))
    local auth = drain(multi, { [token] = "token" }).token
    assert.equals(201, auth[1])
    assert.is_nil(auth[3]) -- the token stays in C
    assert.is_true(c:token_info().has_token)
    emu:control("delays", { route = QUERY, delay = 0.05 })
    local pending = {}
    for i = 1, 32 do
      pending[assert(multi:add(c, "api", { method = "GET", route = QUERY, query = { { "limit", 1 }, { "offset", i } } }))] = i
    end
    local results = drain(multi, pending)
    for i = 1, 32 do
      assert.equals(200, results[i][1])
      assert.equals(i, require("falcon.json").decode(results[i][3]).meta.pagination.offset)
    end
    local connections = {}
    for _, e in ipairs(emu:requests()) do connections[e.connection] = true end
    local n = 0
    for _ in pairs(connections) do n = n + 1 end
    assert.is_true(n <= 8, n .. " connections")
    multi:close()
  end)

  it("uploads a form and saves a download through the multi handle", function()
    local c, multi = client(), core.multi(2)
    drain(multi, { [multi:add(c, "token")] = 1 })
    local created = drain(multi, { [multi:add(c, "api", { method = "POST", route = "/message-center/entities/case/v2",
      content_type = "application/json",
      body = '{"title":"m","type":"fc:incident-response","body":"b","user_uuid":"u","detections":[],"incidents":[]}' })] = 1 })[1]
    local case_id = require("falcon.json").decode(created[3]).resources[1].id
    local bytes = ("multi upload "):rep(1000)
    local up = drain(multi, { [multi:add(c, "api", { method = "POST", route = "/message-center/entities/case-attachment/v1",
      form = { { name = "case_id", value = case_id }, { name = "user_uuid", value = "u" },
               { name = "file", data = bytes, filename = "m.txt", content_type = "text/plain" } } })] = 1 })[1]
    assert.equals(200, up[1])
    local id = require("falcon.json").decode(up[3]).resources[1].id
    local out = os.tmpname()
    local down = drain(multi, { [multi:add(c, "api", { method = "GET", route = "/message-center/entities/case-attachment/v1",
      query = { { "id", id } }, save_to = out })] = 1 })[1]
    assert.equals(200, down[1])
    assert.is_nil(down[3])
    local f = assert(io.open(out, "rb"))
    assert.equals(bytes, f:read("*a"))
    f:close()
    os.remove(out)
    multi:close()
  end)

  it("fails the transfers still in flight when the multi handle is closed, and frees them", function()
    local c, multi = client(), core.multi(4)
    drain(multi, { [multi:add(c, "token")] = 1 })
    emu:control("delays", { route = QUERY, delay = 2 })
    local transfers = {}
    for i = 1, 6 do transfers[i] = assert(multi:add(c, "api", { method = "GET", route = QUERY })) end
    multi:perform(0.05)
    multi:close()
    for _, t in ipairs(transfers) do
      local status, err = t:result()
      assert.is_nil(status)
      assert.equals("aborted", err.kind)
    end
    assert.has_error(function() multi:add(c, "api", { method = "GET", route = QUERY }) end,
      "falcon: core.multi: the multi handle is closed")
    emu:control("delays", { clear = true })
  end)

  it("lets Lua drop unfinished transfers and the multi handle itself", function()
    local c = client()
    do
      local multi = core.multi(2)
      for _ = 1, 4 do multi:add(c, "api", { method = "GET", route = QUERY }) end
      multi:perform(0)
    end
    collectgarbage()
    collectgarbage()
    -- The client still works afterwards.
    local status = c:perform("api", { method = "GET", route = QUERY, auth = "none" })
    assert.equals(401, status)
  end)

  it("checks its arguments before adding anything", function()
    local c, multi = client(), core.multi()
    assert.has_error(function() core.multi(0) end)
    assert.has_error(function() multi:add(c, "api", { method = "get", route = QUERY }) end,
      "falcon: request: bad field 'method' (upper-case HTTP method expected)")
    assert.has_error(function() multi:perform(-1) end)
    local t = assert(multi:add(c, "api", { method = "GET", route = QUERY }))
    assert.has_error(function() t:result() end, "falcon: transfer:result: the transfer has not finished")
    multi:close()
    multi:close() -- closing twice is harmless
  end)
end)
