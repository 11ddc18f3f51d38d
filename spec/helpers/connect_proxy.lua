-- Test helper: the CONNECT proxy of spec/helpers/connect_proxy.c (built by `make build` into
-- build/spec/connect_proxy), started in its own process group and always stopped with it.
--   local proxy = connect_proxy.start()  -> .url, :heads() (every request head it received), :stop()
local emulator = require "spec.helpers.emulator"

local M = {}
local quote, run, read_file = emulator.quote, emulator.run, emulator.read_file

local Proxy = {}
Proxy.__index = Proxy

function M.start()
  local root = emulator.script:match("^(.*)/emulator/falcon%-emulator$")
  local binary = root .. "/build/spec/connect_proxy"
  assert(io.open(binary, "rb"), "no " .. binary .. " (make build)"):close()
  local dir = run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-proxy.XXXXXX\""):gsub("%s+$", "")
  -- $PPID of the shell is this Lua process: the proxy ends with it whatever happens.
  run(quote(binary) .. " " .. quote(dir .. "/port") .. " " .. quote(dir .. "/heads.log")
    .. " $PPID </dev/null >/dev/null 2>" .. quote(dir .. "/err") .. " & :")
  local self = setmetatable({ dir = dir }, Proxy)
  for _ = 1, 400 do
    local port, group = (read_file(dir .. "/port") or ""):match("^(%d+) (%d+)")
    if port then
      self.url, self.group = "http://127.0.0.1:" .. port, group
      return self
    end
    run("sleep 0.01")
  end
  self:stop()
  error("connect_proxy did not start: " .. (read_file(dir .. "/err") or ""), 2)
end

--- Every request head the proxy received, in order.
function Proxy:heads()
  local heads = {}
  for head in (read_file(self.dir .. "/heads.log") or ""):gmatch("(.-\r\n\r\n)") do heads[#heads + 1] = head end
  return heads
end

function Proxy:stop()
  -- The whole group: the listener and one process per tunnel.
  if self.group then run("kill -TERM -" .. self.group .. " 2>/dev/null") end
  run("rm -rf " .. quote(self.dir))
end

return M
