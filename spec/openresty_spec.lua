-- The SDK inside nginx (ngx_lua): a real nginx runs spec/helpers/ngx_app.lua, whose SDK calls go through
-- the cosocket driver, against the emulator. The spec itself runs under both busted VMs; nginx's Lua is
-- always LuaJIT (build/luajit).
local Client = require "falcon.client"
local cases = require "spec.helpers.driver_cases"
local emulator = require "spec.helpers.emulator"
local openresty = require "spec.helpers.openresty"

local function now()
  local out = emulator.run("date +%s.%N")
  return tonumber(out)
end

local function count(entries, pattern)
  local n = 0
  for _, e in ipairs(entries) do if e.uri:find(pattern) then n = n + 1 end end
  return n
end

describe("inside nginx (cosocket driver)", function()
  local emu, server, upload, dir

  setup(function()
    emu = emulator.start()
    server = openresty.start { emu = emu, workers = 1 }
    dir = server.dir
    upload = dir .. "/upload.txt"
    local f = assert(io.open(upload, "wb"))
    f:write(("falconlua cosocket upload 0123456789\n"):rep(50000)) -- 1.85 MB, streamed in chunks
    f:close()
  end)
  teardown(function()
    if server then server:stop() end
    if emu then emu:stop() end
  end)
  before_each(function() emu:control("reset", {}); emu:clear_log() end)

  it("is picked by itself in the content phase", function()
    local r = server:get("/driver")
    assert.same({ driver = "cosocket", phase = "content" }, r)
  end)

  for _, scheme in ipairs { "http", "https" } do
    it("runs the whole Message Center workflow over " .. scheme, function()
      local download = dir .. "/download-" .. scheme .. ".txt"
      local r = server:get(("/workflow?scheme=%s&upload=%s&download=%s"):format(scheme, upload, download))
      assert.same({ create = 200, comment = 200, attach = 200, get = 200, activities = 1, pages = 3, paged = 30,
                    aggregate = 200, download = 200, saved_bytes = 1850000, driver = "cosocket" }, r)
      local a, b = io.open(upload, "rb"), io.open(download, "rb")
      assert.is_true(a:read("*a") == b:read("*a"), "downloaded bytes differ from the upload")
      a:close(); b:close()
      -- The upload went out with an exact Content-Length in one multipart body.
      for _, e in ipairs(emu:requests()) do
        if e.uri == "/message-center/entities/case-attachment/v1" and e.method == "POST" then
          assert.matches("^multipart/form%-data; boundary=", e.headers["content-type"])
          assert.is_nil(e.headers["transfer-encoding"])
        end
      end
    end)
  end

  it("never blocks the worker: 20 concurrent SDK calls with every answer 300 ms late", function()
    server:get("/query") -- the token and a connection, once
    emu:control("delays", { route = "*", delay = 0.3 })
    local started = now()
    local out = emulator.run("for i in $(seq 20); do curl -s --max-time 30 " .. emulator.quote(server.url .. "/query")
      .. " & done; wait")
    local elapsed = now() - started
    local _, ok = out:gsub('"status":200', "")
    assert.equals(20, ok)
    print(("\n    20 concurrent calls, 300 ms each, one worker: %.3f s"):format(elapsed))
    -- One after another they take 6 s; the emulator saw them in flight together.
    assert.is_true(elapsed < 3, ("took %.3f s"):format(elapsed))
    local api = {}
    for _, e in ipairs(emu:requests()) do if e.uri ~= "/oauth2/token" then api[#api + 1] = e end end
    assert.is_true(emulator.max_overlap(api) >= 10, "at most " .. emulator.max_overlap(api) .. " in flight")
  end)

  it("runs falcon.parallel on light threads: concurrent, and the worker keeps serving", function()
    server:get("/query")
    emu:control("delays", { route = "/message-center/*", delay = 0.3 })
    local started = now()
    local out = emulator.run("curl -s --max-time 30 " .. emulator.quote(server.url .. "/parallel?n=6")
      .. " > " .. dir .. "/parallel.json & sleep 0.1; curl -s --max-time 30 " .. emulator.quote(server.url .. "/driver")
      .. "; wait")
    local elapsed = now() - started
    assert.matches('"driver":"cosocket"', out) -- answered while the parallel handler was waiting
    local f = assert(io.open(dir .. "/parallel.json"))
    local r = require("cjson").decode(f:read("*a"))
    f:close()
    assert.same({ 200, 200, 200, 200, 200, 200 }, r.statuses)
    assert.same({ cosocket = true }, r.drivers)
    -- One after another they take 1.8 s; the emulator saw them in flight together.
    assert.is_true(r.seconds < 1.7, ("6 calls of 300 ms took %.3f s"):format(r.seconds))
    local api = {}
    for _, e in ipairs(emu:requests()) do if e.uri:find("^/message%-center/") then api[#api + 1] = e end end
    assert.is_true(emulator.max_overlap(api) >= 3, "at most " .. emulator.max_overlap(api) .. " in flight")
    assert.is_true(elapsed < 3)
  end)

  it("queues light threads behind the one token renewal in flight: one token request, no polling", function()
    emu:control("delays", { route = "/oauth2/token", delay = 0.3 })
    local r = server:get("/renewal?n=6")
    assert.same({ statuses = { 200, 200, 200, 200, 200, 200 }, sleeps = 0 }, r)
    local token, queries = nil, {}
    for _, e in ipairs(emu:requests()) do
      if e.uri == "/oauth2/token" then assert.is_nil(token, "a second token request"); token = e end
      if e.uri == "/message-center/queries/cases/v1" then queries[#queries + 1] = e end
    end
    assert.equals(6, #queries)
    -- Every waiter went on the moment the token came (none was still asleep in a poll).
    for _, q in ipairs(queries) do
      assert.is_true(q.time >= token.time + token.duration - 0.002 and q.time < token.time + token.duration + 0.1)
    end
  end)

  it("lets a light thread wait for another's renewal no longer than max_retry_wait: then it renews itself", function()
    emu:control("delays", { route = "/oauth2/token", delay = 1.5 })
    local r = server:get("/renewal?n=3&max_retry_wait=0.3")
    assert.same({ statuses = { 200, 200, 200 }, sleeps = 0 }, r)
    local tokens = {}
    for _, e in ipairs(emu:requests()) do if e.uri == "/oauth2/token" then tokens[#tokens + 1] = e.time end end
    table.sort(tokens)
    -- The two waiters gave up 0.3 s in, long before the first renewal's answer (1.5 s): three requests.
    assert.equals(3, #tokens)
    assert.is_true(tokens[3] - tokens[1] < 1, ("the last token request %.2f s after the first"):format(tokens[3] - tokens[1]))
  end)

  it("pages end with an error, never a loop, when the server repeats itself", function()
    local token = emu:token()
    local first = emu:http { path = "/message-center/queries/cases/v1", token = token,
                             query = { { "limit", 7 }, { "sort", "case.id.asc" } } }.json.resources
    emu:control("faults", { route = "/message-center/queries/cases/v1", count = -1, set = { resources = first } })
    local r = server:get("/each?service=MessageCenter&op=query_cases&limit=7&sort=case.id.asc")
    assert.same({ 7, "no_progress", "cosocket" }, { r.count, r.code, r.driver }, r.message)
    emu:control("faults", { clear = true })
    local filter = "status:'open'"
    local after = emu:http { path = "/spotlight/queries/vulnerabilities/v1", token = token,
                             query = { { "filter", filter }, { "limit", 17 } } }.json.meta.pagination.after
    emu:control("faults", { route = "/spotlight/queries/vulnerabilities/v1", count = -1,
                            set = { ["meta.pagination.after"] = after } })
    r = server:get("/each?service=SpotlightVulnerabilities&op=query_vulnerabilities&limit=17&filter="
      .. emulator.urlencode(filter))
    assert.same({ 34, "no_progress" }, { r.count, r.code }, r.message)
    assert.truthy(r.message:find(after, 1, true))
  end)

  describe("errors and retries are the libcurl driver's", function()
    local function base(target)
      local urls = { http = emu.url, https = emu.tls_url, refused = server.refused_url, untrusted = server.untrusted_url }
      return { client_id = emu.client_id, client_secret = emu.client_secret, base_url = urls[target],
               ca_bundle = (target == "https" or target == "untrusted") and emu.ca or nil }
    end
    local function strip(outcome)
      outcome.message = nil
      return outcome
    end
    for _, case in ipairs(cases.list) do
      it(case.name, function()
        local function arm()
          emu:control("reset", {})
          if case.faults then emu:control("faults", { faults = case.faults }) end
        end
        arm()
        local blocking = cases.run(Client, case, base(case.target))
        arm()
        local cosocket = server:get("/case?name=" .. emulator.urlencode(case.name))
        assert.same(strip(blocking), strip(cosocket))
        for key, value in pairs(case.expect or {}) do assert.same(value, blocking[key], key) end
        if os.getenv("FALCON_SHOW_CASES") then print("\n    " .. case.name .. ": " .. require("cjson").encode(cosocket)) end
      end)
    end
  end)
end)

describe("tokens shared by the workers of one nginx", function()
  local emu, server

  setup(function()
    emu = emulator.start()
    server = openresty.start { emu = emu, workers = 4 }
  end)
  teardown(function()
    if server then server:stop() end
    if emu then emu:stop() end
  end)

  it("fetches exactly one token for 4 workers and many calls", function()
    emu:control("delays", { route = "/oauth2/token", delay = 0.3 }) -- every worker asks while one fetches
    local out = emulator.run("for i in $(seq 80); do curl -s --max-time 30 "
      .. emulator.quote(server.url .. "/query?kind=shared") .. " & done; wait")
    local _, ok = out:gsub('"status":200', "")
    assert.equals(80, ok)
    local pids = {}
    for pid in out:gmatch('"pid":(%d+)') do pids[pid] = true end
    local workers = 0
    for _ in pairs(pids) do workers = workers + 1 end
    assert.is_true(workers >= 2, "only " .. workers .. " worker(s) answered")
    local log = emu:requests()
    print(("\n    %d workers answered 80 calls; token requests: %d"):format(workers, count(log, "^/oauth2/token")))
    assert.equals(1, count(log, "^/oauth2/token"))
    assert.equals(80, count(log, "^/message%-center/queries/cases"))
  end)

  it("replaces a token the API refuses, once", function()
    emu:control("tokens", { revoke = "all" })
    emu:clear_log()
    local out = emulator.run("for i in $(seq 40); do curl -s --max-time 30 "
      .. emulator.quote(server.url .. "/query?kind=shared") .. " & done; wait")
    local _, ok = out:gsub('"status":200', "")
    assert.equals(40, ok)
    -- Each worker that finds the token refused renews at most once; the first renewal is shared.
    local tokens = count(emu:requests(), "^/oauth2/token")
    assert.is_true(tokens >= 1 and tokens <= 4, tokens .. " token requests")
  end)
end)

-- The C side of the cosocket driver without nginx (so that `make check-asan` covers it too): the head
-- client:exchange builds, and responses fed in any chunking.
describe("client:exchange (no socket)", function()
  local core = require "falcon.core"
  local function client(extra)
    local opts = { base_url = "http://127.0.0.1:9/prefix", client_id = "id", client_secret = "s3cret", user_agent = "t/1" }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return core.client(opts)
  end

  it("writes the head libcurl would, with the one query encoder", function()
    local c = client { access_token = "tok" }
    local ex = assert(c:exchange("api", { method = "POST", route = "/x/v1", query = { { "a", "b c" }, { "n", 10 } },
                                   body = '{"k":1}', content_type = "application/json" }))
    local head = ex:head()
    assert.matches("^POST /prefix/x/v1%?a=b%+c&n=10 HTTP/1%.1\r\n", head)
    assert.matches("\r\nHost: 127%.0%.0%.1:9\r\n", head)
    assert.matches("\r\nUser%-Agent: falconlua/[%d.]+ t/1\r\n", head)
    assert.matches("\r\nAuthorization: Bearer tok\r\n", head)
    assert.matches("\r\nContent%-Type: application/json\r\n", head)
    assert.matches("\r\nContent%-Length: 7\r\n", head)
    assert.matches("\r\n\r\n$", head)
    assert.equals('{"k":1}', ex:body(100))
    assert.is_nil(ex:body(100))
    ex:close()
  end)

  it("reads a chunked response fed one byte at a time, headers case-insensitive", function()
    local c = client()
    local ex = assert(c:exchange("api", { method = "GET", route = "/y", auth = "none" }))
    local raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Cs-Traceid: t-1\r\n"
      .. "Transfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"
    local state
    for i = 1, #raw do state = ex:feed(raw:sub(i, i)) end
    assert.equals("done", state)
    assert.is_true(ex:keepalive())
    local status, headers, body = ex:result()
    assert.equals(200, status)
    assert.equals("t-1", headers["x-cs-traceid"])
    assert.equals('{"a":1}', body)
  end)

  it("keeps the token in C and reports a cut connection as libcurl does", function()
    local c = client()
    local ex = assert(c:exchange("token"))
    assert.matches("client_secret=s3cret", ex:body(1000)) -- the secret form passes through, transiently
    ex:feed("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 48\r\n\r\n")
    assert.equals("done", ex:feed('{"access_token":"abc","expires_in":1799,"x":123}'))
    local status, _, body, info = ex:result()
    assert.equals(201, status)
    assert.is_nil(body)
    assert.equals(1799, info.expires_in)
    assert.is_true(c:token_info().has_token)
    local cut = assert(c:exchange("api", { method = "GET", route = "/z" }))
    cut:feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert.equals("failed", cut:feed())
    local s, err = cut:result()
    assert.is_nil(s)
    assert.equals("connection", err.kind)
    assert.equals(18, err.curl_code) -- CURLE_PARTIAL_FILE, what libcurl gives
    local nothing = assert(c:exchange("api", { method = "GET", route = "/z" }))
    assert.equals("failed", nothing:feed())
    assert.equals(52, select(2, nothing:result()).curl_code) -- CURLE_GOT_NOTHING
  end)

  it("streams a 2xx body to save_to through .part, and never an error body", function()
    local path = os.tmpname()
    os.remove(path)
    local c = client()
    local ex = assert(c:exchange("api", { method = "GET", route = "/f", auth = "none", save_to = path }))
    ex:feed("HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope")
    local status, _, body = ex:result()
    assert.equals(404, status)
    assert.equals("nope", body)
    assert.is_nil(io.open(path, "rb"))
    ex = assert(c:exchange("api", { method = "GET", route = "/f", auth = "none", save_to = path }))
    ex:feed("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nbyt")
    ex:feed("es!")
    local _, _, saved, info = ex:result()
    assert.is_nil(saved)
    assert.equals(6, info.saved_bytes)
    local f = assert(io.open(path, "rb"))
    assert.equals("bytes!", f:read("*a"))
    f:close()
    os.remove(path)
  end)

  it("streams a multipart upload with the length announced up front", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(("z"):rep(200000))
    f:close()
    local c = client()
    local ex = assert(c:exchange("api", { method = "POST", route = "/u", auth = "none",
      form = { { name = "case_id", value = "c1" }, { name = "file", path = path, filename = "z.txt" } } }))
    local length = tonumber(ex:head():match("\r\nContent%-Length: (%d+)\r\n"))
    local boundary = ex:head():match("boundary=(%S+)\r\n")
    local sent, chunks = {}, 0
    for chunk in function() return ex:body(65536) end do sent[#sent + 1] = chunk; chunks = chunks + 1 end
    local bytes = table.concat(sent)
    assert.equals(length, #bytes)
    assert.is_true(chunks >= 4)
    assert.equals("--" .. boundary .. "--\r\n", bytes:sub(-(#boundary + 6)))
    assert.truthy(bytes:find('name="file"; filename="z.txt"\r\nContent-Type: application/octet-stream\r\n\r\n', 1, true))
    ex:close()
    os.remove(path)
  end)
end)
