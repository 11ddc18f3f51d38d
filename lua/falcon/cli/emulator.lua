--- `falcon emulator start|stop|env`: the local Falcon API emulator (emulator/falcon-emulator, shipped
-- beside the command by the rockspec), so a newcomer can try every command offline:
--   falcon emulator start && eval "$(falcon emulator env)" && falcon message-center query-cases
local terminal = require("falcon.core").terminal
local usage = require("falcon.cli.args").usage

local M = {}

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- The emulator script: $FALCON_EMULATOR_SCRIPT, else emulator/ beside the command's bin/ (a checkout
--- or the installed rock's directory).
function M.script(command_path)
  local set = os.getenv("FALCON_EMULATOR_SCRIPT")
  if set and set ~= "" then return set end
  local dir = (command_path or ""):match("^(.*)/bin/[^/]+$") or "."
  return dir .. "/emulator/falcon-emulator"
end

--- Where the instance lives: $FALCON_EMULATOR_DIR, else the user's state directory.
function M.dir()
  local set = os.getenv("FALCON_EMULATOR_DIR")
  if set and set ~= "" then return set end
  local state = os.getenv("XDG_STATE_HOME")
  if not state or state == "" then state = (os.getenv("HOME") or "/tmp") .. "/.local/state" end
  return state .. "/falcon/emulator"
end

local function exit_code(a, b, c)
  if type(a) == "number" then return a end -- Lua 5.1 / LuaJIT
  if b == "exit" then return c end
  return 1
end

function M.run(ctx, rest)
  local action = rest[1]
  if action ~= "start" and action ~= "stop" and action ~= "env" then
    usage("falcon emulator: start, stop or env expected, got '%s'", tostring(action))
  end
  if #rest > 1 then usage("falcon emulator %s takes no more arguments", action) end
  local script = M.script(ctx.script)
  local f = io.open(script, "r")
  if not f then usage("falcon emulator: %s not found (set FALCON_EMULATOR_SCRIPT)", script) end
  f:close()
  local base = quote(script) .. " " .. action .. " --dir " .. quote(M.dir())
  -- The emulator's programs must not inherit an ignored SIGPIPE, and no token is at stake here.
  terminal.release_signals()
  if action ~= "env" then
    ctx.screen:flush()
    -- start prints its URLs on stdout; a newcomer reads them there
    return exit_code(os.execute(base)) == 0 and 0 or 1
  end
  local pipe = assert(io.popen(base .. " 2>&1"))
  local text = pipe:read("*a")
  pipe:close()
  local url = text:match("export FALCON_EMULATOR_URL='([^']*)'")
  if not url then
    io.stderr:write("falcon emulator env: " .. text .. (text:sub(-1) == "\n" and "" or "\n"))
    return 1
  end
  ctx.screen:data(text .. (text:sub(-1) == "\n" and "" or "\n") .. "export FALCON_BASE_URL='" .. url .. "'\n")
  return 0
end

return M
