-- Issue 13: nothing a hostile server does may exhaust memory, hang the client, write twice, inject a
-- header or answer a request with bytes meant for nothing. Every case of spec/helpers/hostile_cases.lua
-- runs under the three drivers (blocking libcurl, curl multi, cosockets inside nginx) against
-- spec/helpers/hostile_server.c, and the drivers must agree on what the caller sees and on what the
-- server applied.
local Client = require "falcon.client"
local cases = require "spec.helpers.hostile_cases"
local emulator = require "spec.helpers.emulator"
local falcon = require "falcon"
local hostile = require "spec.helpers.hostile"
local memory = require "spec.helpers.memory"
local openresty = require "spec.helpers.openresty"

local function sleep(seconds) emulator.run("sleep " .. seconds) end

local drivers = {
  blocking = function(case, url) return cases.run(Client, case, url, sleep) end,
  multi = function(case, url)
    local results, errors = falcon.parallel({ function() return cases.run(Client, case, url, sleep) end })
    assert(not errors, errors and tostring(errors[1]))
    return results[1]
  end,
}

local function count(applied, method)
  local n = 0
  for _, a in ipairs(applied) do if a.method == method then n = n + 1 end end
  return n
end

-- What each case must show, whatever the driver: outcomes (one per step) and the server's log.
local expect = {}
expect["a write applied, then the connection dropped"] = function(o, applied)
  assert.are.equal(200, o[1].status)
  assert.are.equal("connection", o[2].kind)
  assert.is_true(o[2].reached_server)
  assert.are.equal(1, count(applied, "POST"))
end
expect["a write dropped before it was applied"] = function(o, applied)
  assert.are.equal("connection", o[2].kind)
  assert.are.equal(0, count(applied, "POST"))
end
expect["a read dropped on a reused connection"] = function(o, applied)
  assert.are.same({ 200, 200 }, { o[1].status, o[2].status })
  assert.are.equal(3, count(applied, "GET")) -- the dropped read was applied, and sent once more
end
local function every_write_once(o, applied)
  for i = 1, 3 do assert.are.equal(200, o[i].status, o[i].message) end
  assert.are.equal(3, count(applied, "POST"))
end
expect["writes to a server closing idle connections"] = every_write_once
expect["writes to a server closing after each answer"] = every_write_once
local function too_large(o)
  assert.are.equal("too_large", o[1].kind)
  assert.matches("max_body_bytes", o[1].message)
end
expect["a double-gzip bomb"] = function(o)
  assert.are.equal("connection", o[1].kind)
  assert.matches("unsupported Content%-Encoding 'gzip, gzip'", o[1].message)
end
expect["a gzip bomb"] = too_large
expect["an endless chunked body"] = too_large
expect["a gzip body within the bound"] = function(o) assert.are.equal(200, o[1].status) end
local function truncated(o)
  assert.are.equal("connection", o[1].kind)
  assert.matches("truncated", o[1].message)
end
expect["a truncated gzip stream in complete chunked framing"] = truncated
expect["a truncated gzip stream with a matching Content-Length"] = truncated
expect["a body trickling in"] = function(o)
  assert.are.equal("timeout", o[1].kind)
end
expect["a header value with control characters"] = function(o, applied)
  assert.are.equal(200, o[1].status)
  assert.are.equal(1, count(applied, "POST"))
end
local function not_stray(o)
  assert.are.equal(204, o[1].status)
  assert.are.equal(200, o[2].status)
  assert.is_true(o[2].real)
  assert.is_nil(o[2].stray)
end
expect["a stray answer after a 204"] = not_stray
expect["a stray answer in the same packet as a 204"] = not_stray
expect["a token with CR LF"] = function(o, applied)
  assert.matches("access_token", o[1].message)
  assert.are.equal(1, #applied) -- the token request; the API call never went out
  assert.are.equal("/oauth2/token", applied[1].path)
end
expect["a header block past the bound"] = function(o)
  assert.are.equal("connection", o[1].kind)
  assert.matches("header", o[1].message) -- 256 KiB (libcurl) or http_parser's own 80 KB bound
end

-- Issue 23: answers that are not what they claim.
local function not_json(o, i, status)
  assert.are.equal(500, o[i].status)
  assert.are.equal("json", o[i].kind)
  assert.is_true(o[i].reached_server)
  assert.matches("the " .. status .. " answer's Content%-Type says JSON, but its body is not JSON", o[i].message)
end
local function sound_after(o, applied) -- the next request, on a fresh connection, gets its own answer
  assert.are.equal(200, o[2].status, o[2].message)
  assert.are.equal(1, o[2].resources)
  assert.are_not.equal(applied[1].connection, applied[2].connection)
end
expect["a 2xx that says JSON, with invalid UTF-8"] = function(o, applied)
  not_json(o, 1, 200)
  assert.matches("invalid bytes in UTF8 string", o[1].message)
  sound_after(o, applied)
end
expect["a 2xx that says JSON, with a truncated JSON text"] = function(o) not_json(o, 1, 200) end
expect["a 2xx that says JSON and is not, in Result mode"] = function(o)
  assert.are.equal("falcon.APIError", o[1].raised)
  assert.are.equal(500, o[1].status)
  assert.are.equal("json", o[1].kind)
end
expect["a 2xx that says JSON and is not, through a service class"] = function(o) not_json(o, 1, 200) end
expect["a 302 with a body, through a service class"] = function(o)
  assert.is_nil(o[1].bare) -- a response table, never the body alone
  assert.are.equal(302, o[1].status)
  assert.are.equal("moved", o[1].body_start)
  assert.are.equal(5, o[1].body_length)
end
expect["a 302 with a body, in Result mode"] = function(o)
  assert.are.equal("falcon.APIError", o[1].raised)
  assert.are.equal(302, o[1].status)
end
expect["a 2xx that says JSON and is not, to a read, is not sent again"] = function(o, applied)
  not_json(o, 1, 200)
  assert.are.equal(1, count(applied, "GET"))
end
expect["a 2xx that says JSON and is not, to a write, is not sent again"] = function(o, applied)
  not_json(o, 1, 201)
  assert.are.equal(1, count(applied, "POST"))
end
expect["a 503 that says JSON and is not keeps its status"] = function(o, applied)
  assert.are.equal(503, o[1].status)
  assert.is_nil(o[1].kind)
  assert.are.same({ 25, '{"res' }, { o[1].body_length, o[1].body_start })
  assert.are.equal(200, o[2].status)
  assert.are.equal(applied[1].connection, applied[2].connection) -- read to its end: the connection stays
end
expect["a 503 that says JSON and is not, past 64 KiB, keeps its status and its first 64 KiB"] = function(o)
  assert.are.equal(503, o[1].status)
  assert.are.same({ 65536, '["xxx' }, { o[1].body_length, o[1].body_start })
end
expect["a 503 that says JSON and is not, to a read, is retried"] = function(o, applied)
  assert.are.equal(200, o[1].status)
  assert.are.equal(2, count(applied, "GET"))
end
expect["a 503 that says JSON and is not, to a write, is not sent again"] = function(o, applied)
  assert.are.equal(503, o[1].status)
  assert.are.equal(1, count(applied, "POST"))
end
local function broken_length(o, i)
  assert.are.equal(500, o[i].status)
  assert.are.equal("connection", o[i].kind)
  assert.is_true(o[i].reached_server)
  assert.matches("length is ambiguous", o[i].message)
end
local function refused(o, applied)
  broken_length(o, 1)
  sound_after(o, applied)
end
expect["two different Content-Length fields cutting a JSON answer short"] = refused
expect["two different Content-Length fields, the longer last"] = refused
expect["two identical Content-Length fields"] = refused
expect["a list of lengths in one Content-Length"] = refused
expect["a Content-Length beside chunked framing"] = refused
expect["a write answered with two Content-Length fields"] = function(o, applied)
  broken_length(o, 1)
  assert.are.equal(1, count(applied, "POST"))
end

local function run_case(case, run)
  local server = hostile.start(case.plan)
  for name, bytes in pairs(case.files or {}) do server:file(name, bytes) end
  local ok, err = pcall(function()
    local outcomes = run(case, server.url)
    expect[case.name](outcomes, server:applied())
  end)
  server:stop()
  if not ok then error(err, 0) end
end

for name, run in pairs(drivers) do
  describe("a hostile server, " .. name .. " driver:", function()
    for _, case in ipairs(cases.list) do
      it(case.name, function() run_case(case, run) end)
    end
  end)
end

describe("a hostile server, cosocket driver (nginx):", function()
  local emu, ngx_server
  setup(function()
    emu = emulator.start()
    ngx_server = openresty.start { emu = emu }
  end)
  teardown(function()
    if ngx_server then ngx_server:stop() end
    if emu then emu:stop() end
  end)
  for _, case in ipairs(cases.list) do
    it(case.name, function()
      run_case(case, function(c, url)
        local result = ngx_server:get("/hostile?case=" .. emulator.urlencode(c.name) .. "&url=" .. emulator.urlencode(url))
        assert(not result.error, result.error)
        return result
      end)
    end)
  end
end)

describe("memory stays bounded", function()
  it("while a 1 GiB gzip bomb is refused", function()
    local server = hostile.start { "ok", "gzip-bomb1 1024" }
    local ok, base, peak, result = pcall(memory.run, ([[
      local c = require("falcon.client").new { base_url = %q, access_token = "t", max_retries = 0,
                                               max_body_bytes = 16 * 1024 * 1024 }
      c:request { method = "GET", route = "/warm" }
      baseline()
      local r = c:request { method = "GET", route = "/bomb" }
      return r.transport_error and r.transport_error.kind
    ]]):format(server.url))
    server:stop()
    assert(ok, base)
    assert.are.equal("too_large", result)
    assert.is_true(peak - base < 48 * 1024, ("peak RSS grew by %d KiB"):format(peak - base))
  end)
end)

describe("a token from outside", function()
  it("is adopted from a shared dict only when it is a bearer token", function()
    local core = require "falcon.core"
    local c = core.client { base_url = "http://127.0.0.1:9", client_id = "id", client_secret = "secret" }
    c:share_tokens()
    for _, bad in ipairs { "abc\r\nX-Injected: 1", "a b", "", ("a"):rep(8193), "abc\0def", "=abc" } do
      assert.has_error(function() c:adopt_token(bad, os.time() + 60) end)
      assert.is_false(c:token_info().has_token)
    end
    c:adopt_token("eyJhbGciOi.J9-_~+/x==", os.time() + 60)
    assert.is_true(c:token_info().has_token)
    c:close()
  end)
end)

describe("max_body_bytes", function()
  it("is a whole number of bytes >= 0, checked before anything is sent", function()
    local core = require "falcon.core"
    for _, bad in ipairs { -1, 0.5, 1e300, -1e300, 0 / 0, math.huge, "10" } do
      assert.has_error(function() core.client { base_url = "http://127.0.0.1:9", max_body_bytes = bad } end,
        "falcon: core.client: bad option 'max_body_bytes' (a whole number of bytes >= 0 expected; 0: no limit)")
    end
    core.client { base_url = "http://127.0.0.1:9", max_body_bytes = 0 }:close()
  end)
end)
