--- Runs a Lua snippet in a child interpreter (the same VM as the suite) and reports its peak memory.
-- Peak RSS is read from /proc/self/status (VmHWM) inside the child, before and after the work.
local memory = {}

local function vm()
  return require "spec.helpers.vm"
end

local PRELUDE = [[
local function kib(field)
  local f = io.open("/proc/self/status")
  local text = f:read("*a")
  f:close()
  return tonumber(text:match(field .. ":%%s*(%%d+)"))
end
local before = kib("VmRSS")
-- The snippet calls baseline() once its libraries are loaded and warm, to measure only the work.
function baseline() before = kib("VmRSS") end -- luacheck: ignore
local result = (function() %s end)()
io.write(string.format("RSS_BEFORE=%%d PEAK=%%d RESULT=%%s\n", before, kib("VmHWM"), tostring(result)))
]]

--- Runs `body` (a chunk that may return one value and may call baseline()) in a child;
--- returns baseline_kib, peak_kib, result string.
function memory.run(body, env)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(PRELUDE:format(body))
  f:close()
  local prefix = ""
  -- Under `make check-asan` the child measures the plain build: sanitizer memory would drown the figure.
  if os.getenv("LD_PRELOAD") then
    prefix = "unset LD_PRELOAD; "
    env = env or {}
    env.LUA_CPATH = os.getenv("FALCON_PLAIN_CPATH") or env.LUA_CPATH
  end
  for k, v in pairs(env or {}) do prefix = prefix .. k .. "='" .. tostring(v):gsub("'", "'\\''") .. "' " end
  local pipe = assert(io.popen(prefix .. vm() .. " " .. script .. " 2>&1"))
  local out = pipe:read("*a")
  pipe:close()
  os.remove(script)
  local before, peak, result = out:match("RSS_BEFORE=(%d+) PEAK=(%d+) RESULT=(.-)\n")
  assert(before, "child failed: " .. out)
  return tonumber(before), tonumber(peak), result
end

return memory
