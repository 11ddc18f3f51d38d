--- `make torture`: fails, one run per failure point, every allocation of the SDK calls of
-- spec/torture/calls.lua, under each interpreter asked for, and reports what became of each point.
-- It starts the emulator, then spec/torture/harness.lua under each VM with the allocator shim preloaded
-- (build/torture/shim.so); a harness that crashes or hangs is started again after the point it was on,
-- which counts as not handled, and so does a point that left anything in a sanitizer's log.
--   lua5.4 spec/torture/torture.lua [--vms lua5.4,luajit,asan] [--calls query,...] [--stride n] [--runs 1,2]
-- Ends with "N passed, M failed" (points handled, points not), as every suite of the project does.
local emu = require "spec.helpers.emulator"

local root = emu.script:match("^(.*)/emulator/falcon%-emulator$")
local quote = emu.quote
local LIBS = { "core", "lua", "yajl", "zlib", "curl", "other" }
local SANITIZER = { "ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer", "Lua warning" }

local function parse_args(args)
  local o = { vms = "lua5.4,luajit,asan", calls = "all", stride = 1, runs = "1,2" }
  local i = 1
  while args[i] do
    local key = args[i]:match("^%-%-(%w+)$")
    if not key or o[key] == nil or args[i + 1] == nil then error("torture: bad argument " .. args[i]) end
    o[key] = key == "stride" and assert(tonumber(args[i + 1]), "stride: a number") or args[i + 1]
    i = i + 2
  end
  return o
end

-- How a VM's harness is started: interpreter, the core it loads, what is preloaded. vm: lua5.1 .. lua5.4,
-- luajit, or asan (Lua 5.4 with the ASan+UBSan build of the core).
local function command(vm, dir, emulator_dir)
  local interpreter, core = vm, vm
  local preload = root .. "/build/torture/shim.so"
  local env = ""
  if vm == "asan" then
    interpreter, core = "lua5.4", "asan"
    local function lib(name)
      local pipe = io.popen("gcc -print-file-name=" .. name)
      local path = pipe:read("*l")
      pipe:close()
      return path
    end
    -- The shim first: it hands every allocation on to ASan's allocator, the next in line.
    preload = preload .. " " .. lib("libasan.so") .. " " .. lib("libubsan.so")
    env = "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0:halt_on_error=1:allocator_may_return_null=1 " ..
          "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "
  end
  local control = root .. "/build/torture/" .. interpreter
  -- LuaJIT's compiler is off: LuaJIT itself hangs or crashes when an allocation made from compiled code
  -- fails, with or without falconlua (spec/torture/README.md); the interpreter handles every one.
  if interpreter == "luajit" then interpreter = "luajit -joff" end
  return env .. "LD_PRELOAD=" .. quote(preload) ..
    " LUA_PATH=" .. quote(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/?.lua;;") ..
    " LUA_CPATH=" .. quote(control .. "/?.so;" .. root .. "/build/" .. core .. "/?.so;;") ..
    " FALCON_EMULATOR_DIR=" .. quote(emulator_dir) .. " TORTURE_DIR=" .. quote(dir) ..
    " " .. interpreter .. " " .. quote(root .. "/spec/torture/harness.lua")
end

-- ---- one VM --------------------------------------------------------------------------------------

local function new_tally()
  return { series = {}, counts = {}, bad = {}, errors = {}, handled = 0, failed = 0 }
end

local function record(tally, series, at, hit, verdict, detail)
  local s = series
  s.total, s.hit = s.total + 1, s.hit or {}
  local by_lib = s.hit[hit] or { total = 0, handled = 0 }
  s.hit[hit] = by_lib
  by_lib.total = by_lib.total + 1
  if verdict == "bad" then
    tally.failed = tally.failed + 1
    tally.bad[#tally.bad + 1] = ("%s %s x%d #%d (%s): %s"):format(s.call, s.lib, s.run, at, hit, detail)
  else
    tally.handled, s.handled, by_lib.handled = tally.handled + 1, s.handled + 1, by_lib.handled + 1
    if verdict == "error" then
      local shape = s.call .. ": " .. detail:gsub("%x%x%x%x%x%x%x%x+", "<id>"):gsub("%d+", "N")
      tally.errors[shape] = (tally.errors[shape] or 0) + 1
    end
  end
end

-- Runs the harness until it ends, starting it again after each crash or hang.
local function run_vm(vm, o, dir, emulator_dir)
  local tally = new_tally()
  local resume_series, resume_at = 1, 1
  local started = os.time()
  while true do
    local cmd = command(vm, dir, emulator_dir) .. " " .. quote(o.calls) .. " " .. quote(o.runs) .. " " ..
      o.stride .. " " .. resume_series .. " " .. resume_at .. " 2>&1"
    local pipe = io.popen(cmd)
    local current, ended, log, hang = nil, false, {}, false
    local tainted -- a sanitizer or Lua warning line seen during the current point
    for line in pipe:lines() do
      local word = line:match("^(%u+)")
      if word == "SERIES" then
        local index, call, lib, run, step = line:match("^SERIES (%d+) (%S+) (%S+) (%d+) (%d+)")
        tally.series[tonumber(index)] = tally.series[tonumber(index)] or
          { call = call, lib = lib, run = tonumber(run), step = tonumber(step), total = 0, handled = 0 }
      elseif word == "COUNTS" then
        local call, rest = line:match("^COUNTS (%S+) (.*)$")
        tally.counts[call] = rest
      elseif word == "RUN" then
        local index, at = line:match("^RUN (%d+) (%d+)")
        current, tainted = { series = tonumber(index), at = tonumber(at) }, nil
      elseif word == "POINT" then
        local index, at, hit, verdict, detail = line:match("^POINT (%d+) (%d+) (%S+) (%S+) ?(.*)$")
        if tainted then verdict, detail = "bad", tainted end
        record(tally, tally.series[tonumber(index)], tonumber(at), hit, verdict, detail)
        current = nil
      elseif word == "HANG" then
        hang = true
      elseif word == "END" then
        ended = true
      else
        for _, pattern in ipairs(SANITIZER) do
          if line:find(pattern, 1, true) then tainted = tainted or line:sub(1, 200) end
        end
        log[#log + 1] = line
        if #log > 40 then table.remove(log, 1) end
      end
    end
    pipe:close()
    if ended then break end
    if not current then
      io.stderr:write("torture: the harness under ", vm, " stopped outside a point:\n", table.concat(log, "\n"), "\n")
      tally.failed = tally.failed + 1
      break
    end
    local series = tally.series[current.series]
    local why = hang and "hang (watchdog)" or (tainted or ("crashed: " .. (log[#log] or "?")))
    record(tally, series, current.at, "?", "bad", why)
    resume_series, resume_at = current.series, current.at + series.step
  end
  tally.seconds = os.time() - started
  return tally
end

-- ---- the report ----------------------------------------------------------------------------------

local function report(vm, tally)
  print(("== torture under %s (%d s)"):format(vm, tally.seconds))
  local calls_seen = {}
  for _, s in ipairs(tally.series) do
    if not calls_seen[s.call] then
      calls_seen[s.call] = true
      print(("%s: allocations with nothing failing: %s"):format(s.call, tally.counts[s.call] or "?"))
    end
    if s.total > 0 then
      local line = ("  %-5s x%d: %d/%d handled"):format(s.lib, s.run, s.handled, s.total)
      if s.lib == "any" and s.run == 1 then
        local parts = {}
        for _, lib in ipairs(LIBS) do
          local h = s.hit and s.hit[lib]
          if h then parts[#parts + 1] = ("%s %d/%d"):format(lib, h.handled, h.total) end
        end
        line = line .. " (by library hit: " .. table.concat(parts, ", ") .. ")"
      end
      print(line)
    end
  end
  local shapes = {}
  for shape, n in pairs(tally.errors) do shapes[#shapes + 1] = ("%6d  %s"):format(n, shape) end
  table.sort(shapes)
  print("clean errors seen (count, call: error):")
  for _, s in ipairs(shapes) do print(s) end
  if #tally.bad > 0 then
    local path = root .. "/build/torture/" .. vm .. "-not-handled.txt"
    local f = assert(io.open(path, "w"))
    f:write(table.concat(tally.bad, "\n"), "\n")
    f:close()
    print(("not handled (%d; all of them in %s):"):format(#tally.bad, path))
    for i = 1, math.min(#tally.bad, 20) do print("  " .. tally.bad[i]) end
  end
  print(("%s: %d points handled, %d not"):format(vm, tally.handled, tally.failed))
end

local function main(args)
  local o = parse_args(args)
  local e = emu.start { rate_limit = { limit = 100000000, window = 60 } }
  local dir = e.dir .. "/torture"
  os.execute("mkdir -p " .. quote(dir))
  local passed, failed = 0, 0
  local ok, err = pcall(function()
    for vm in o.vms:gmatch("[^,]+") do
      local tally = run_vm(vm, o, dir, e.dir)
      report(vm, tally)
      passed, failed = passed + tally.handled, failed + tally.failed
    end
  end)
  e:stop()
  if not ok then error(err, 0) end
  print(("%d passed, %d failed"):format(passed, failed))
  os.exit(failed == 0 and 0 or 1)
end

main(arg)
