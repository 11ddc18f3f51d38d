-- Test helper: runs Lua source in a child interpreter of the VM under test, under a time limit, so that
-- a hang fails one spec instead of stopping the suite. The child inherits LUA_PATH/LUA_CPATH; under
-- check-asan (or valgrind) it runs uninstrumented, on the plain build.
--   local code, stdout, stderr = child.run(source, { url = ..., ... }, 60, { debug = true })
-- `source` receives `...` = the values table, then the extra arguments.
local emulator = require "spec.helpers.emulator"
local spawn = require "spec.helpers.spawn"

local M = {}

local function literal(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

-- A Lua table constructor for a flat table of strings, numbers and booleans.
local function constructor(values)
  local fields = {}
  for k, v in pairs(values or {}) do fields[#fields + 1] = ("[%q] = %s"):format(k, literal(v)) end
  return "{ " .. table.concat(fields, ", ") .. " }"
end

-- A folder holding main.lua, which runs `source` with `values` (and the extra arguments).
local function prepare(source, values, ...)
  local dir = emulator.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-child.XXXXXX\""):gsub("%s+$", "")
  local extra = {}
  for i = 1, select("#", ...) do extra[i] = literal(select(i, ...)) end
  local f = assert(io.open(dir .. "/main.lua", "w"))
  f:write("local run = assert((loadstring or load)(", ("%q"):format(source), "))\n",
    "run(", constructor(values), #extra > 0 and ", " or "", table.concat(extra, ", "), ")\n")
  f:close()
  return dir
end


--- Runs `source` in a child; returns its exit code (124 when the time limit killed it), stdout, stderr.
function M.run(source, values, seconds, ...)
  local dir = prepare(source, values, ...)
  -- (emulator.run drops the sanitizer's LD_PRELOAD; lua_command picks the plain build under check-asan)
  local out, code = emulator.run("timeout -k 2 " .. tostring(seconds or 60) .. " " .. spawn.lua_command() .. " "
    .. emulator.quote(dir .. "/main.lua") .. " 2>" .. emulator.quote(dir .. "/stderr"))
  local err = emulator.read_file(dir .. "/stderr") or ""
  emulator.run("rm -rf " .. emulator.quote(dir))
  return code, out, err
end

--- Starts `source` in a child in the background (no time limit: the caller kills it) and returns its pid.
function M.spawn(source, values)
  local dir = prepare(source, values)
  return (emulator.run(spawn.lua_command() .. " " .. emulator.quote(dir .. "/main.lua") .. " >/dev/null 2>&1 & echo $!")
    :gsub("%s+$", ""))
end

return M
