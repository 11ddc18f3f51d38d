--- One measurement of `make bench`, run in its own process so that its peak RSS is its own.
--
--   work.lua calls MODE N LIMIT    MODE = service | pythonic | uber: N query_cases{limit = LIMIT}
--                                  after a warm-up; core: the same GET through falcon.core alone and
--                                  cjson.decode (what any Lua layer on this C core starts from); core_json:
--                                  the same GET decoded by the C core as it arrives (the SDK's way)
--   work.lua luacalls CALL        the Lua function calls and lines the SDK runs for one call (after a warm-up),
--                                  counted by a debug hook: CALL = query (query_cases{limit = 10}), query_filter
--                                  (query_cases{filter = ..., limit = 10}), get_cases (get_cases of 100 ids)
--   work.lua decode FILE N DECODER  N decodes of the JSON in FILE: cjson (cjson.decode of the whole text),
--                                  falcon (falcon.json.decode of the whole text), stream (the C decoder fed
--                                  64 KiB pieces read from FILE, as a body arrives: no whole-body string)
--   work.lua download ID DEST REPS  REPS save_to downloads of attachment ID
--   work.lua upload PATH REPS       REPS file_path uploads of PATH
--   work.lua clients N CALL         N idle MessageCenter clients (CALL = 1: each made one call)
--   work.lua paginate LIMIT         each() over every case of the emulator, pages of LIMIT
--   work.lua stream N RAW           N Event Streams events through stream:events() (RAW = 1: curl alone)
--
-- The fixed server comes from BENCH_URL, the emulator from FALCON_EMULATOR_URL/FALCON_CLIENT_*.
-- Prints "key value" lines for bench/driver.lua; a failed call is an error (exit status 1).
local falcon = require "falcon"
local system = require "system" -- lua-system (a busted dependency): a monotonic clock for both VMs

local clock = system.monotime

local function out(key, value) io.write(key, " ", tostring(value), "\n") end

-- Peak and current resident set of this process in KiB, from the kernel's own accounting.
local function status_kib(field)
  local f = assert(io.open("/proc/self/status", "r"))
  local text = f:read("*a")
  f:close()
  return tonumber(text:match(field .. ":%s*(%d+)"))
end

local function fixed_options(extra)
  local opts = { client_id = "bench", client_secret = "bench-secret", base_url = assert(os.getenv("BENCH_URL")) }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return opts
end

local function check(cond, what, detail)
  if not cond then error("bench: " .. what .. " failed: " .. tostring(detail), 0) end
end

local modes = {}

-- Per-call cost: the same GET as the C floor, through the public API, JSON decoded.
function modes.calls(mode, n, limit)
  n, limit = tonumber(n), tonumber(limit) or 100
  local call
  if mode == "service" or mode == "pythonic" then
    local mc = falcon.MessageCenter(fixed_options { pythonic = mode == "pythonic" })
    call = function() return mc:query_cases { limit = limit } end
  elseif mode == "uber" then
    local uber = falcon.APIHarnessV2(fixed_options())
    call = function() return uber:command("QueryCasesIdsByFilter", { limit = limit }) end
  elseif mode == "core" then
    local cjson = require "cjson"
    local opts = fixed_options()
    local core = require("falcon.core").client { base_url = opts.base_url, client_id = opts.client_id,
                                                 client_secret = opts.client_secret }
    local status = core:perform("token")
    check(status == 201, "token", status)
    local request = { method = "GET", route = "/message-center/queries/cases/v1", query = { { "limit", limit } } }
    call = function()
      local code, headers, body = core:perform("api", request)
      return { status_code = code, headers = headers, body = cjson.decode(body) }
    end
  elseif mode == "core_json" then
    local opts = fixed_options()
    local core = require("falcon.core").client { base_url = opts.base_url, client_id = opts.client_id,
                                                 client_secret = opts.client_secret }
    local status = core:perform("token")
    check(status == 201, "token", status)
    local request = { method = "GET", route = "/message-center/queries/cases/v1", query = { { "limit", limit } },
                      json = require("falcon.core").json_limits {} }
    call = function()
      local code, headers, body = core:perform("api", request)
      return { status_code = code, headers = headers, body = body }
    end
  else
    error("bench: unknown calls mode '" .. tostring(mode) .. "'", 0)
  end
  -- Warm-up: the token and the connection, as the floor's first request opens its connection.
  local first = call()
  local ids = mode == "pythonic" and first.data or first.body.resources
  check(first.status_code == 200 and #ids == limit, "warm-up query_cases", first.status_code)
  local started = clock()
  local last = first -- N may be 0 (the instruction count subtracts a run without calls)
  for _ = 1, n do last = call() end
  local elapsed = clock() - started
  check(last.status_code == 200, "query_cases", last.status_code)
  out("seconds", string.format("%.6f", elapsed))
  out("hwm_kib", status_kib("VmHWM"))
end

-- The SDK's own Lua work for one call: function calls (call and tail-call events) and lines run in the
-- SDK's modules, counted by a debug hook around the call alone (the bench's own lines are not counted).
function modes.luacalls(what)
  local mc = falcon.MessageCenter(fixed_options())
  local ids = {}
  for i = 1, 100 do ids[i] = string.format("%032x", i) end
  local calls = {
    query = function() return mc:query_cases { limit = 10 } end,
    query_filter = function() return mc:query_cases { filter = "case.status:'open'", limit = 10 } end,
    get_cases = function() return mc:get_cases(ids) end,
  }
  local call = calls[what]
  if not call then error("bench: unknown luacalls call '" .. tostring(what) .. "'", 0) end
  for _ = 1, 2 do check(call().status_code == 200, "warm-up " .. what, "status") end -- token, caches
  local getinfo, find = debug.getinfo, string.find
  local sdk = "@" .. assert(os.getenv("BENCH_REPO")) .. "/lua/" -- the SDK's sources, not the bench's
  local counted, lines = 0, 0
  -- LuaJIT runs no hook inside compiled code: the counted call is interpreted, like Lua 5.4's.
  if rawget(_G, "jit") then jit.off(); jit.flush() end
  local function ours(level) return find(getinfo(level, "S").source, sdk, 1, true) == 1 end
  debug.sethook(function(event)
    if event == "line" then
      if ours(3) then lines = lines + 1 end
    elseif ours(3) then
      counted = counted + 1
    end
  end, "cl")
  local response = call()
  debug.sethook()
  check(response.status_code == 200, what, response.status_code)
  out("calls", counted)
  out("lines", lines)
end

-- Decoding alone, on a body read from a file: the decoder against lua-cjson on the same bytes.
function modes.decode(path, n, decoder)
  n = tonumber(n)
  local decode
  if decoder == "cjson" or decoder == "falcon" then
    local f = assert(io.open(path, "rb"))
    local text = f:read("a")
    f:close()
    local fn = decoder == "cjson" and require("cjson").decode or falcon.json.decode
    decode = function() return fn(text) end
  elseif decoder == "stream" then
    decode = function()
      local f = assert(io.open(path, "rb"))
      local d = falcon.json.decoder()
      while true do
        local piece = f:read(65536)
        if not piece then break end
        assert(d:feed(piece))
      end
      f:close()
      assert(d:finish())
      return d:next()
    end
  else
    error("bench: unknown decoder '" .. tostring(decoder) .. "'", 0)
  end
  if n == 0 then -- one decode, alone in its process: its peak RSS
    local started = clock()
    local value = decode()
    local elapsed = clock() - started
    check(type(value) == "table" and value.resources, "decode", path)
    out("seconds", string.format("%.6f", elapsed))
    out("hwm_kib", status_kib("VmHWM"))
    return
  end
  local value = decode() -- warm-up, and a check that it decodes
  check(type(value) == "table" and value.resources, "decode", path)
  collectgarbage()
  local started = clock()
  for _ = 1, n do value = decode() end
  local elapsed = clock() - started
  check(type(value) == "table", "decode", path)
  out("seconds", string.format("%.6f", elapsed))
  out("hwm_kib", status_kib("VmHWM"))
end

function modes.download(id, dest, reps)
  local mc = falcon.MessageCenter(fixed_options())
  check(mc:login(), "login", "token route")
  local before = status_kib("VmHWM")
  for _ = 1, tonumber(reps) do
    os.remove(dest)
    local started = clock()
    local r = mc:download_case_attachment { id = id, save_to = dest }
    local elapsed = clock() - started
    check(r.status_code == 200 and r.saved_bytes, "download", r.status_code)
    out("seconds", string.format("%.6f", elapsed))
    out("bytes", string.format("%d", r.saved_bytes))
  end
  out("hwm_before_kib", before)
  out("hwm_kib", status_kib("VmHWM"))
end

function modes.upload(path, reps)
  local mc = falcon.MessageCenter(fixed_options())
  check(mc:login(), "login", "token route")
  local before = status_kib("VmHWM")
  for _ = 1, tonumber(reps) do
    local started = clock()
    local r = mc:add_case_attachment { case_id = "0123456789abcdef0123456789abcdef",
                                       user_uuid = "00000000-0000-4000-8000-00000000beef", file_path = path }
    local elapsed = clock() - started
    check(r.status_code == 200, "upload", r.status_code)
    out("seconds", string.format("%.6f", elapsed))
    out("received", r.headers["X-Bench-Received"])
  end
  out("hwm_before_kib", before)
  out("hwm_kib", status_kib("VmHWM"))
end

-- Memory per client: RSS growth over N clients kept alive, garbage collected before each reading.
function modes.clients(n, call)
  n = tonumber(n)
  local mc0 = falcon.MessageCenter(fixed_options()) -- loads the modules before the first reading
  if call == "1" then mc0:query_cases { limit = 100 } end
  collectgarbage("collect")
  local before = status_kib("VmRSS")
  local clients = {}
  for i = 1, n do
    local mc = falcon.MessageCenter(fixed_options())
    if call == "1" then
      local r = mc:query_cases { limit = 100 }
      check(r.status_code == 200, "query_cases", r.status_code)
    end
    clients[i] = mc
  end
  collectgarbage("collect")
  local after = status_kib("VmRSS")
  out("rss_before", before)
  out("rss_after", after)
  out("clients", #clients)
end

-- Pagination against the emulator: wall time per page, matched later with the server's log.
function modes.paginate(limit)
  local mc = falcon.MessageCenter {
    client_id = assert(os.getenv("FALCON_CLIENT_ID")), client_secret = assert(os.getenv("FALCON_CLIENT_SECRET")),
    base_url = assert(os.getenv("FALCON_EMULATOR_URL")),
  }
  check(mc:login(), "login", "emulator token route")
  local pages, count = {}, 0
  local started = clock()
  local mark = started
  local function on_page()
    local t = clock()
    pages[#pages + 1] = string.format("%.6f", t - mark)
    mark = t
  end
  -- Offset paging stops at 10,000 by default (the API's cap); the emulator has none.
  for _ in mc:each("query_cases", { limit = tonumber(limit) }, { max_offset = 1e9, on_page = on_page }) do
    count = count + 1
  end
  out("seconds", string.format("%.6f", clock() - started))
  out("ids", count)
  out("pages", table.concat(pages, ","))
  out("hwm_kib", status_kib("VmHWM"))
end

-- Issue 9's figure: the details of every seeded case, through each() and lookups of 500 ids, either one
-- request at a time or with parallel paging and concurrent batches (falcon.parallel underneath).
function modes.entities(style)
  local mc = falcon.MessageCenter {
    client_id = assert(os.getenv("FALCON_CLIENT_ID")), client_secret = assert(os.getenv("FALCON_CLIENT_SECRET")),
    base_url = assert(os.getenv("FALCON_EMULATOR_URL")),
  }
  check(mc:login(), "login", "emulator token route")
  local started, details = clock(), 0
  if style == "parallel" then
    local ids = {}
    for id in mc:each("query_cases", { limit = 500 }, { parallel = 8, max_offset = 1e9 }) do ids[#ids + 1] = id end
    local response = mc:get_cases(ids) -- split into batches of 500, sent 8 at a time, merged in order
    check(response.status_code == 200, "lookup", tostring(response.status_code))
    details = #response.body.resources
  else
    -- The emulator has no deep-offset cap; the API's 10,000 would stop both walks half way.
    for page in mc:pages("query_cases", { limit = 500 }, { max_offset = 1e9 }) do
      local ids = page.body.resources
      if #ids > 0 then
        local response = mc:get_cases(ids)
        check(response.status_code == 200, "lookup", tostring(response.status_code))
        details = details + #response.body.resources
      end
    end
  end
  out("seconds", string.format("%.6f", clock() - started))
  out("details", details)
end

-- Event Streams (issue 17): N events of one partition through stream:events(), decoded, counted; the
-- resident set after the first tenth and at the end (flat: nothing grows with the events read).
-- With RAW = 1, the baseline instead: the same feed read by the curl tool into `head -n N`, undecoded.
function modes.stream(n, raw)
  n = tonumber(n)
  local client = falcon.Client.new {
    client_id = assert(os.getenv("FALCON_CLIENT_ID")), client_secret = assert(os.getenv("FALCON_CLIENT_SECRET")),
    base_url = assert(os.getenv("FALCON_EMULATOR_URL")),
  }
  local app = "bench" .. tostring(raw) .. math.random(1, 1e6)
  if raw == "1" then
    local discovered = client:request { method = "GET", route = "/sensors/entities/datafeed/v2",
                                        query = { { "appId", app }, { "format", "json" } } }
    check(discovered.status_code == 200, "discovery", discovered.status_code)
    local session = discovered.body.resources[1]
    local started = clock()
    local p = assert(io.popen(("curl -sN -H 'Authorization: Token %s' '%s' | head -n %d | wc -l")
      :format(session.sessionToken.token, session.dataFeedURL, n)))
    local lines = tonumber(p:read("a"))
    p:close()
    out("seconds", string.format("%.6f", clock() - started))
    out("events", lines)
    return
  end
  local stream = falcon.EventStream { client = client, app_id = app }
  local count, rss_tenth = 0, nil
  local started = clock()
  for event in stream:events() do
    check(event.metadata.offset == count + 1, "order", event.metadata.offset)
    count = count + 1
    if count == math.floor(n / 10) then
      collectgarbage()
      rss_tenth = status_kib("VmRSS")
    end
    if count == n then break end
  end
  local seconds = clock() - started
  stream:stop()
  collectgarbage()
  out("seconds", string.format("%.6f", seconds))
  out("events", count)
  out("rss_tenth_kib", rss_tenth)
  out("rss_end_kib", status_kib("VmRSS"))
end

local mode = arg[1]
local run = modes[mode]
if not run then
  io.stderr:write("usage: work.lua calls|download|upload|clients|paginate|entities|stream ARGS...\n")
  os.exit(2)
end
run(arg[2], arg[3], arg[4])
