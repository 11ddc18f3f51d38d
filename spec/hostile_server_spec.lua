-- The hostile server helper itself (spec/helpers/hostile.lua, spec/helpers/hostile_server.c), tried with the
-- curl command and a bare bash socket: the specs of issue 13 rely on each action doing what it says.
local cjson = require "cjson"
local emulator = require "spec.helpers.emulator"
local hostile = require "spec.helpers.hostile"

local quote, run = emulator.quote, emulator.run
local OK = { meta = {}, resources = { "ok" }, errors = {} }

describe("hostile server", function()
  local server

  local function start(lines)
    server = hostile.start(lines)
    return server
  end
  after_each(function()
    if server then server:stop() end
    server = nil
  end)

  -- curl with `args` (already quoted), the URL paths after them; returns stdout and curl's exit code.
  local function curl(args, ...)
    local urls = {}
    for i, path in ipairs { ... } do urls[i] = quote(server.url .. path) end
    return run("curl -s --max-time 10 " .. args .. " " .. table.concat(urls, " "))
  end

  -- Sends one raw request on a fresh connection; returns every byte that came back within `seconds`, and
  -- whether the server closed the connection by then.
  local function raw_exchange(request, seconds)
    local script = "exec 3<>/dev/tcp/127.0.0.1/" .. server.port .. "; printf %s " .. quote(request)
      .. " >&3; timeout " .. seconds .. " cat <&3"
    local out, code = run("bash -c " .. quote(script))
    return out, code ~= 124 -- timeout's code when it had to end cat
  end

  it("answers ok on one kept-alive connection, and ok again once the plan is exhausted", function()
    start { "ok" }
    local out, code = curl("-w '\\n'", "/first", "/second")
    assert.equals(0, code)
    local first, second = out:match("^(.-)\n(.-)\n$")
    assert.same(OK, cjson.decode(first))
    assert.same(OK, cjson.decode(second))
    assert.same({ { method = "GET", path = "/first", connection = 1 }, { method = "GET", path = "/second", connection = 1 } },
      server:applied())
  end)

  it("applies then drops on `drop`, and never applies on `drop-unapplied`", function()
    start { "drop", "drop-unapplied" }
    local out, code = curl("-X POST -d '{}'", "/applied")
    assert.equals("", out)
    assert.equals(52, code) -- curl: empty reply from server
    out, code = curl("-X POST -d '{}'", "/unapplied")
    assert.equals("", out)
    assert.equals(52, code)
    assert.same({ { method = "POST", path = "/applied", connection = 1 } }, server:applied())
  end)

  it("reads plan lines appended later, and honours json, token and status", function()
    start { "json {\"a\":1}" }
    server:plan { "token {\"access_token\":\"abc\\r\\nX-Injected: 1\",\"expires_in\":1799}", "status 503" }
    local out = curl("-w ' %{http_code}\\n'", "/json", "/oauth2/token", "/failed")
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equals('{"a":1} 200', lines[1])
    -- The JSON escapes reach the wire as written: backslash, r, backslash, n.
    assert.equals('{"access_token":"abc\\r\\nX-Injected: 1","expires_in":1799} 201', lines[2])
    assert.equals(503, cjson.decode(lines[3]:match("^(.*) 503$")).errors[1].code)
    assert.equals(3, #server:applied())
  end)

  it("writes extra header lines byte for byte", function()
    start { "headers X-Trace-Id: a\27[31mb|X-Ratelimit-Limit: 0.001" }
    local out = curl("-D -", "/h")
    assert.truthy(out:find("\r\nX-Trace-Id: a\27[31mb\r\nX-Ratelimit-Limit: 0.001\r\n", 1, true), out)
  end)

  it("sends an unrequested answer after a 204, in a later write (`stray`) or the same one (`stray-same`)", function()
    start { "stray", "stray-same" }
    local request = "DELETE /thing HTTP/1.1\r\nHost: x\r\n\r\n"
    local expected = "^HTTP/1%.1 204 No Content\r\n\r\nHTTP/1%.1 200 OK\r\n.-\r\n\r\n{\"stray\":true}$"
    for _ = 1, 2 do
      local out, closed = raw_exchange(request, 0.3)
      assert.truthy(out:find(expected), out)
      assert.is_false(closed)
    end
    assert.equals(2, #server:applied())
  end)

  it("serves the raw bytes of a file on `bytes`", function()
    start { "bytes answer" }
    server:file("answer", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    assert.equals("hello", (curl("", "/raw")))
  end)

  it("gzips a JSON document on `gzip-ok`", function()
    start { "gzip-ok", "gzip-ok" }
    local doc = cjson.decode((curl("--compressed", "/gz")))
    assert.equals(300, #doc.resources)
    local raw = curl("-D -", "/gz")
    assert.truthy(raw:find("\r\nContent%-Encoding: gzip\r\n"))
    assert.equals("\31\139", raw:match("\r\n\r\n(..)"))
  end)

  it("cuts the gzip stream in half, inside complete chunked or Content-Length framing", function()
    start { "gzip-truncated", "gzip-truncated-cl" }
    for _, path in ipairs { "/chunked", "/length" } do
      local _, code = run("curl -s --max-time 10 " .. quote(server.url .. path) .. " | gzip -dc >/dev/null 2>&1")
      assert.equals(1, code, path) -- gzip: unexpected end of file
    end
  end)

  it("inflates `gzip-bomb 2` through two gzip layers to 2 MiB of spaces in a JSON string; `gzip-bomb1` once", function()
    start { "gzip-bomb 2", "gzip-bomb 2", "gzip-bomb1 1" }
    local received = curl("-o /dev/null -w '%{size_download}'", "/bomb")
    assert.is_true(tonumber(received) < 16384, received)
    local decoded = curl("--compressed", "/bomb")
    assert.equals(2 * 1024 * 1024 + #'{"pad":""}', #decoded)
    assert.truthy(decoded:find('^{"pad":"   +"}$'))
    local once = run("curl -s --max-time 10 " .. quote(server.url .. "/bomb1") .. " | gzip -dc | wc -c")
    assert.equals(1024 * 1024 + #'{"pad":""}', tonumber(once:match("%d+")))
  end)

  it("streams an endless chunked body until the client goes, then serves the next request", function()
    start { "endless" }
    local count = run("curl -s --max-time 10 " .. quote(server.url .. "/stream") .. " | head -c 10000000 | wc -c")
    assert.equals("10000000", count:match("%d+"))
    assert.same(OK, cjson.decode((curl("", "/after"))))
  end)

  it("closes after answering on `close-after`, after an idle pause on `idle-close`, and not on `ok`", function()
    start { "close-after", "idle-close 100", "ok" }
    local request = "GET /once HTTP/1.1\r\nHost: x\r\n\r\n"
    for _, expected in ipairs { true, true, false } do
      local out, closed = raw_exchange(request, 1)
      assert.truthy(out:find('"ok"', 1, true), out)
      assert.equals(expected, closed)
    end
  end)
end)
