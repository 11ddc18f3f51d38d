--- One torture run (spec/torture/torture.lua starts it, with the allocator shim preloaded): for each call
-- of spec/torture/calls.lua and each series (which allocations are numbered, how many fail in a row),
-- every failure point in turn, each on a fresh warm object:
--   1. the call runs with the at-th allocation (and the next, for two in a row) failing;
--   2. what it gave must be the right data, a memory error raised, or a transport error returned;
--   3. the same object must then give the right data;
--   4. once everything is closed and collected, no C block allocated in the window may be live, and the
--      registry must hold no more references than before.
-- A series ends at the first point past the call's last allocation. Lines on stdout, for the parent:
--   SERIES <n> <call> <lib> <run> <step>   a series starts
--   COUNTS <call> <lib>=<n> ...      the allocations of the call with nothing failing
--   RUN <n> <at>                     a point starts (a crash or a hang after it is that point's)
--   POINT <n> <at> <lib hit> <ok|error|bad> <detail>
--   END
-- Arguments: calls (comma-separated or "all"), runs ("1,2"), stride (run every stride-th point),
-- then optionally the series and point to resume from. To look at one point: TORTURE_ONE=1 (stop after
-- it) and TORTURE_WHERE=1 (a point not handled names where its failed allocation was asked for).
local control = require "torture_control"
local emu = require "spec.helpers.emulator"
local falcon = require "falcon"
local calls = require "spec.torture.calls"

local unpack = table.unpack or unpack -- luacheck: ignore 143
local pack = table.pack or function(...) return { n = select("#", ...), ... } end -- luacheck: ignore 143
local LIBS = { "core", "lua", "yajl", "zlib", "curl", "other" }
local WATCHDOG_SECONDS = 60

local function say(...)
  io.stdout:write(table.concat({ ... }, " "), "\n")
  io.stdout:flush()
end

local function one_line(s)
  return (tostring(s):gsub("%s+", " "):sub(1, 240))
end

-- ---- fixtures ------------------------------------------------------------------------------------

local function fixtures()
  local e = emu.start() -- the parent's instance (FALCON_EMULATOR_DIR)
  local dir = assert(os.getenv("TORTURE_DIR"), "TORTURE_DIR is not set")
  local fx = { url = e.url, client_id = e.client_id, client_secret = e.client_secret }
  local mc = falcon.MessageCenter { client_id = fx.client_id, client_secret = fx.client_secret, base_url = fx.url }
  local ids = assert(mc:query_cases { limit = 20 }.body.resources)
  fx.case_ids = { ids[4], ids[5], ids[6], ids[7], ids[8] }
  fx.upload_case = ids[#ids]
  fx.user_uuid = mc:get_cases(ids[1]).body.resources[1].assigner.uuid
  fx.upload_path = dir .. "/evidence.txt"
  emu.write_file(fx.upload_path, ("upload line\n"):rep(40))
  fx.attachment_bytes = ("download line\n"):rep(300)
  local up = mc:add_case_attachment { case_id = fx.upload_case, user_uuid = fx.user_uuid,
                                      file_data = fx.attachment_bytes, file_name = "download.txt" }
  fx.attachment_id = assert(up.body.resources[1].id)
  fx.downloads = dir .. "/downloads"
  os.execute("mkdir -p '" .. fx.downloads .. "'")
  fx.download_path = fx.downloads .. "/saved.bin"
  mc._client:close()
  return fx
end

-- ---- what a point leaves -------------------------------------------------------------------------

-- Idle request decoders are pooled in the registry (csrc/json_decode.c): emptied, so that what stays
-- allocated after a point is what nothing can free.
local function drain_decoder_pool()
  for key, value in pairs(debug.getregistry()) do
    if type(key) == "userdata" and type(value) == "table" and value[1] ~= nil
        and tostring(value[1]):find("^falcon%.json%.decoder") then
      for i = #value, 1, -1 do value[i] = nil end
    end
  end
end

-- References held in the registry (luaL_ref): integer keys whose value is not the free list's number.
local function registry_refs()
  local n = 0
  for key, value in pairs(debug.getregistry()) do
    if type(key) == "number" and type(value) ~= "number" then n = n + 1 end
  end
  return n
end

-- A request finished by __gc gives its decoder back to the pool: collected before the pool is emptied.
local function settle()
  collectgarbage("collect")
  drain_decoder_pool()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- Files beside a download's target (a temporary file not removed).
local function leftovers(fx)
  local pipe = io.popen("env -u LD_PRELOAD ls -A '" .. fx.downloads .. "'")
  local listing = pipe:read("*a")
  pipe:close()
  return listing:gsub("%s+", " "):match("^%s*(.-)%s*$")
end

-- ---- one point ------------------------------------------------------------------------------------

local function is_memory_error(e)
  if type(e) == "table" and getmetatable(e) == nil then e = e.message end
  return type(e) == "string" and (e:find("not enough memory", 1, true) or e:find("out of memory", 1, true)) ~= nil
end

local function is_transport_error(r)
  return type(r) == "table" and r.status_code == 500 and type(r.transport_error) == "table"
end

local function is_clean(x)
  return is_memory_error(x) or is_transport_error(x)
end

-- ok | error | bad, and a detail, for what the call gave (r: pcall's results).
local function classify(call, st, r)
  if not r[1] then
    if is_memory_error(r[2]) then return "error", "raised: " .. one_line(r[2]) end
    return "bad", "raised: " .. one_line(r[2])
  end
  local right, why = call.check(st, unpack(r, 2, r.n))
  if right then return "ok", "" end
  if r[2] == nil and is_memory_error(r[3]) then return "error", "returned: " .. one_line(r[3]) end
  if is_transport_error(r[2]) then
    return "error", ("transport %s: %s"):format(r[2].transport_error.kind, one_line(r[2].transport_error.message))
  end
  if call.partial and call.partial(st, r[2], r[3], is_clean) then return "error", "some tasks failed cleanly" end
  return "bad", "wrong answer: " .. one_line(why)
end

local function closing(...)
  control.close()
  return ...
end

local function windowed(lib, at, run, fn, st)
  control.open(lib, at, run)
  return closing(fn(st))
end

-- Runs the call once with the failure point; returns failed, counts, library hit, verdict, detail.
local function attempt(call, lib, run, at)
  settle()
  local refs = registry_refs()
  local st = call.prepare(call.fx)
  -- The window holds the call and nothing of the harness: it opens inside the protected call and
  -- closes as the call returns, or, when it raised, before anything else is allocated.
  local ok, r1, r2, r3 = pcall(windowed, lib, at, run, call.run, st)
  local fired, seen, hit = control.close()
  local where = os.getenv("TORTURE_WHERE") and control.where()
  local verdict, detail = classify(call, st, { n = 4, ok, r1, r2, r3 })
  r1, r2, r3 = nil, nil, nil -- luacheck: ignore 311 (what the call returned must not stay alive)
  local again = pack(pcall(call.again or call.run, st))
  local right, why = false, again[2]
  if again[1] then right, why = call.check(st, unpack(again, 2, again.n)) end
  if not right and verdict ~= "bad" then verdict, detail = "bad", "unusable afterwards: " .. one_line(why) end
  again = nil -- luacheck: ignore 311
  local closed, close_err = pcall(call.cleanup, st)
  st = nil -- luacheck: ignore 311
  if not closed and verdict ~= "bad" then verdict, detail = "bad", "close failed: " .. one_line(close_err) end
  settle()
  local live = control.live()
  if live > 0 and verdict ~= "bad" then verdict, detail = "bad", ("leak: %d blocks"):format(live) end
  local grown = registry_refs() - refs
  if grown > 0 and verdict ~= "bad" then verdict, detail = "bad", ("leak: %d registry references"):format(grown) end
  if call.name == "download" then
    local left = leftovers(call.fx)
    if left ~= "" and verdict ~= "bad" then verdict, detail = "bad", "left beside the target: " .. left end
  end
  if verdict == "bad" and where then detail = detail .. " [" .. where .. "]" end
  return fired, seen, hit, verdict, detail
end

-- A leak is what a second run of the same point leaves too (a first-time cache, allocated once per
-- process, is not): the second run keeps the blocks' call stacks to name them.
local function point(call, lib, run, at)
  local fired, seen, hit, verdict, detail = attempt(call, lib, run, at)
  if verdict == "bad" and detail:find("^leak: %d+ blocks") then
    control.frames(true)
    local _, _, _, again, again_detail = attempt(call, lib, run, at)
    control.frames(false)
    if again == "bad" and again_detail:find("^leak: %d+ blocks") then
      detail = again_detail .. ": " .. table.concat(control.describe(3), " | ")
    else
      verdict, detail = again, again_detail
    end
  end
  return fired, seen, hit, verdict, detail
end

-- ---- the series -----------------------------------------------------------------------------------

local function series_of(names, runs)
  local list = {}
  for _, name in ipairs(names) do
    for _, run in ipairs(runs) do
      list[#list + 1] = { call = name, lib = "any", run = run }
    end
    -- Two in a row of one library (one of one library is a point of the "any" series above).
    if runs[#runs] == 2 then
      for _, lib in ipairs(LIBS) do list[#list + 1] = { call = name, lib = lib, run = 2 } end
    end
  end
  return list
end

local function split(s)
  local out = {}
  for item in s:gmatch("[^,]+") do out[#out + 1] = item end
  return out
end

local function main(args)
  local names = args[1] == "all" and calls.order or split(args[1])
  local runs = {}
  for _, r in ipairs(split(args[2] or "1,2")) do runs[#runs + 1] = tonumber(r) end
  local stride = tonumber(args[3] or "1")
  local from_series, from_at = tonumber(args[4] or "1"), tonumber(args[5] or "1")
  if _VERSION == "Lua 5.4" then warn("@on") end -- an error inside a __gc is printed, and seen
  local fx = fixtures()
  control.install()
  local counted = {}
  for index, s in ipairs(series_of(names, runs)) do
    if index >= from_series then
      -- yajl and zlib allocate a few times per call: every point of theirs is run, whatever the stride.
      local step = (s.lib == "yajl" or s.lib == "zlib") and 1 or stride
      local call = assert(calls[s.call], "no call " .. s.call)
      call.fx, call.name = fx, s.call
      say("SERIES", index, s.call, s.lib, s.run, step)
      if not counted[s.call] then
        local _, seen = attempt(call, "any", 1, 0)
        local parts = {}
        for _, lib in ipairs(LIBS) do parts[#parts + 1] = lib .. "=" .. seen[lib] end
        say("COUNTS", s.call, table.concat(parts, " "))
        counted[s.call] = true
      end
      local at = index == from_series and from_at or 1
      while true do
        say("RUN", index, at)
        control.watchdog(WATCHDOG_SECONDS)
        local fired, _, hit, verdict, detail = point(call, s.lib, s.run, at)
        control.watchdog(0)
        if fired == 0 then break end
        say("POINT", index, at, hit or "-", verdict, detail)
        if os.getenv("TORTURE_ONE") then os.exit(0) end
        at = at + step
      end
    end
  end
  say("END")
end

main(arg)
