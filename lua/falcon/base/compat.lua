--- Lua version differences of the Lua package, in one place (csrc/compat.h holds the C ones).
--
-- Lua 5.1 (not LuaJIT) cannot yield across pcall/xpcall, and the SDK's tasks yield while their requests
-- are on the wire (falcon.parallel) from inside protected calls. There `compat.xpcall` runs the function
-- in a coroutine of its own and passes its yields through to the caller's coroutine, and
-- `compat.running` names the outermost coroutine of such a chain: the one a scheduler resumes and a
-- driver is bound to. Lua 5.2+ and LuaJIT use the built-ins.
local compat = {}

compat.yields_across_pcall = not (_VERSION == "Lua 5.1" and rawget(_G, "jit") == nil)

local outer_of = setmetatable({}, { __mode = "k" }) -- coroutine made by compat.xpcall -> its caller

--- coroutine.running(), seen through compat.xpcall's own coroutines (the built-in itself where there are
--- none: every API call asks).
function compat.running()
  local co = coroutine.running()
  while co and outer_of[co] do co = outer_of[co] end
  return co
end

if compat.yields_across_pcall then
  compat.pcall, compat.xpcall, compat.running = pcall, xpcall, coroutine.running
else
  --- xpcall(f, handler, ...) that lets f yield. The handler runs after f's stack has unwound, so it
  --- is also given f's (dead) coroutine, for debug.traceback(co, message).
  function compat.xpcall(f, handler, ...)
    -- 5.1's coroutine.create takes Lua functions only; f may be a C one (a driver's exchange).
    local co = coroutine.create(function(...) return f(...) end)
    outer_of[co] = coroutine.running()
    local function step(ok, ...)
      if not ok then return false, handler((...), co) end
      if coroutine.status(co) == "dead" then return true, ... end
      return step(coroutine.resume(co, coroutine.yield(...)))
    end
    return step(coroutine.resume(co, ...))
  end

  local function keep(e) return e end
  function compat.pcall(f, ...) return compat.xpcall(f, keep, ...) end
end

return compat
