-- Test helper: starts one of the specs' helper servers (build/spec/NAME, built by `make build` from
-- spec/helpers/NAME.c) in its own process group, with a fresh folder under "${TMPDIR:-/tmp}", and stops
-- it with its whole group. The server is told this process's id and ends by itself once it is gone.
--   local dir = spawn.folder("hostile")
--   local started = spawn.start("hostile_server", dir, { dir })  -- runs `hostile_server DIR/port DIR OWNER_PID`
--   -> { url = "http://127.0.0.1:PORT", port = PORT, group = PGID } ; spawn.stop(started, dir)

-- A wait between looks at a server: in this process (a shell per look costs a fork of the suite). Loaded
-- on use: hostile_redis runs this file as its own server process too, which must not load the core.
local function nap(seconds) require("falcon.core").sleep(seconds) end
local emulator = require "spec.helpers.emulator"

local M = {}
local quote, run, read_file = emulator.quote, emulator.run, emulator.read_file

--- The command that runs a child Lua process on the suite's VM; under --asan (the sanitizer is preloaded
-- only into busted) the child takes the plain build of the core.
function M.lua_command()
  local vm = require "spec.helpers.vm"
  local plain = os.getenv("FALCON_PLAIN_CPATH")
  return plain and ("env LUA_CPATH=" .. quote(plain) .. " " .. vm) or vm
end

--- A new empty folder for one server's files.
function M.folder(label)
  return (run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-" .. label .. ".XXXXXX\""):gsub("%s+$", ""))
end

--- Runs `NAME DIR/port ARGS... OWNER_PID` and waits for its "PORT PGID" line; raises (at `level`) if it
-- does not start, after removing `dir`.
function M.start(name, dir, args, level)
  local root = emulator.script:match("^(.*)/emulator/falcon%-emulator$")
  local binary = root .. "/build/spec/" .. name
  assert(io.open(binary, "rb"), "no " .. binary .. " (make build)"):close()
  local quoted = {}
  for i, arg in ipairs(args) do quoted[i] = quote(arg) end
  -- $PPID of the shell is this Lua process: the server ends with it whatever happens.
  run(quote(binary) .. " " .. quote(dir .. "/port") .. " " .. table.concat(quoted, " ")
    .. " $PPID </dev/null >/dev/null 2>" .. quote(dir .. "/err") .. " & :")
  for _ = 1, 400 do
    local port, group = (read_file(dir .. "/port") or ""):match("^(%d+) (%d+)")
    if port then
      return { url = "http://127.0.0.1:" .. port, port = tonumber(port), group = group }
    end
    nap(0.01)
  end
  local err = read_file(dir .. "/err") or ""
  run("rm -rf " .. quote(dir))
  error(name .. " did not start: " .. err, (level or 1) + 1)
end

--- Stops a started server with its whole process group and removes its folder; safe to call twice.
function M.stop(started, dir)
  if started and started.group then run("kill -TERM -" .. started.group .. " 2>/dev/null") end
  if started then started.group = nil end
  if dir then run("rm -rf " .. quote(dir)) end
end

return M
