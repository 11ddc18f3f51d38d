-- Issue 13: who owns what across the Lua/C line (csrc/core.c). A transfer owns everything it points
-- into: the caller may change or drop its request table, and collect garbage, while the transfer is in
-- flight (a progress callback, another coroutine); closing a client ends its transfers in flight, each
-- with an error. Run under ASan (spec/run --asan) and valgrind, where a use-after-free is a failure.
local core = require "falcon.core"
local emulator = require "spec.helpers.emulator"
local connect_proxy = require "spec.helpers.connect_proxy"
local json = require "falcon.json"

local ACTIVITY = "/message-center/entities/case-activity/v1"
local QUERY = "/message-center/queries/cases/v1"

describe("ownership across the Lua/C line", function()
  local emu
  setup(function() emu = emulator.start() end)
  teardown(function() if emu then emu:stop() end end)
  before_each(function() emu:control("reset", {}) end)

  local function client(opts)
    local o = { base_url = emu.url, client_id = emu.client_id, client_secret = emu.client_secret }
    for k, v in pairs(opts or {}) do o[k] = v end
    local c = core.client(o)
    assert.is_true((c:perform("token")) == 201)
    return c
  end

  local function drain(multi, transfer)
    while true do
      for _, done in ipairs(multi:perform(0.5)) do
        if done == transfer then return done:result() end
      end
    end
  end

  -- A body built at run time (not interned), so that dropping it frees it.
  local function fresh_request()
    local content = ("comment %d %s"):format(os.time(), ("x"):rep(300))
    return { method = "POST", route = ACTIVITY, content_type = "application/json",
             body = json.encode { case_id = "none", type = "comment", content = content, user_uuid = "u" } },
           content
  end

  it("keeps a multi transfer's strings alive when the request table is emptied and collected", function()
    local c, multi = client(), core.multi(2)
    emu:control("delays", { route = ACTIVITY, delay = 0.2 })
    local request, content = fresh_request()
    local transfer = assert(multi:add(c, "api", request))
    multi:perform(0)
    for k in pairs(request) do request[k] = nil end
    request = nil -- luacheck: ignore
    collectgarbage("collect")
    collectgarbage("collect")
    local status = drain(multi, transfer)
    assert.is_number(status)
    local seen = emu:requests()
    assert.equals(ACTIVITY, seen[#seen].uri)
    assert.truthy(seen[#seen].body:find(content, 1, true))
    multi:close()
    c:close()
  end)

  it("keeps a blocking request's strings alive when its progress callback empties the table", function()
    local c = client()
    local request, content = fresh_request()
    emu:control("delays", { route = ACTIVITY, delay = 0.2 })
    request.progress = function()
      for k in pairs(request) do if k ~= "progress" then request[k] = nil end end
      collectgarbage("collect")
      return true
    end
    local status = c:perform("api", request)
    assert.is_number(status)
    local seen = emu:requests()
    assert.truthy(seen[#seen].body:find(content, 1, true))
    c:close()
  end)

  it("keeps an exchange's strings alive when the request table is emptied and collected", function()
    local c = client()
    local request, content = fresh_request()
    local ex = assert(c:exchange("api", request))
    for k in pairs(request) do request[k] = nil end
    collectgarbage("collect")
    collectgarbage("collect")
    assert.equals("POST " .. ACTIVITY .. " ", ex:head():sub(1, #ACTIVITY + 6))
    local body = {}
    for chunk in function() return ex:body(64) end do body[#body + 1] = chunk end
    assert.truthy(table.concat(body):find(content, 1, true))
    ex:close()
    c:close()
  end)

  it("ends transfers in flight with an error when their client is closed, over an HTTPS proxy too", function()
    local proxy = connect_proxy.start()
    local ok, err = pcall(function()
      local c = client { base_url = emu.tls_url, ca_bundle = emu.ca, proxy = proxy.url }
      local multi = core.multi(4)
      emu:control("delays", { route = QUERY, delay = 0.5 })
      for i = 1, 3 do assert(multi:add(c, "api", { method = "GET", route = QUERY, query = { { "offset", i } } })) end
      multi:perform(0.05)
      c:close()
      local ended = multi:perform(0)
      assert.equals(3, #ended)
      for _, t in ipairs(ended) do
        local status, e = t:result()
        assert.is_nil(status)
        assert.equals("aborted", e.kind)
        assert.matches("client was closed", e.message)
      end
      assert.has_error(function() multi:add(c, "api", { method = "GET", route = QUERY }) end,
        "falcon: core.client: the client is closed")
      multi:close()
    end)
    proxy:stop()
    assert(ok, err)
  end)

  it("refuses to close a client from inside its own transfer", function()
    local c = client()
    emu:control("delays", { route = QUERY, delay = 0.2 })
    local status, e = c:perform("api", { method = "GET", route = QUERY, progress = function() c:close() end })
    assert.is_nil(status)
    assert.equals("aborted", e.kind)
    assert.matches("cannot be closed from inside", e.message)
    assert.equals(200, (c:perform("api", { method = "GET", route = QUERY }))) -- still open
    local multi = core.multi(2)
    local t = assert(multi:add(c, "api", { method = "GET", route = QUERY, progress = function() c:close() end }))
    local s2, e2 = drain(multi, t)
    assert.is_nil(s2)
    assert.matches("cannot be closed from inside", e2.message)
    multi:close()
    c:close()
  end)

  it("refuses to drive a client or a multi handle from inside its own transfer", function()
    local c = client()
    emu:control("delays", { route = QUERY, delay = 0.2 })
    local status, e = c:perform("api", { method = "GET", route = QUERY, progress = function()
      c:perform("api", { method = "GET", route = QUERY })
    end })
    assert.is_nil(status)
    assert.matches("busy with a request", e.message)
    local multi = core.multi(2)
    local t = assert(multi:add(c, "api", { method = "GET", route = QUERY, progress = function() multi:perform(0) end }))
    local s2, e2 = drain(multi, t)
    assert.is_nil(s2)
    assert.matches("inside its own transfers", e2.message)
    assert.equals(200, (c:perform("api", { method = "GET", route = QUERY })))
    multi:close()
    c:close()
  end)
end)
