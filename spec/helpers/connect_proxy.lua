-- Test helper: the CONNECT proxy of spec/helpers/connect_proxy.c (built by `make build` into
-- build/spec/connect_proxy), started in its own process group and always stopped with it.
--   local proxy = connect_proxy.start()  -> .url, :heads() (every request head it received), :stop()
local emulator = require "spec.helpers.emulator"
local spawn = require "spec.helpers.spawn"

local M = {}
local read_file = emulator.read_file

local Proxy = {}
Proxy.__index = Proxy

function M.start()
  local dir = spawn.folder("proxy")
  local started = spawn.start("connect_proxy", dir, { dir .. "/heads.log" }, 2)
  return setmetatable({ dir = dir, started = started, url = started.url }, Proxy)
end

--- Every request head the proxy received, in order.
function Proxy:heads()
  local heads = {}
  for head in (read_file(self.dir .. "/heads.log") or ""):gmatch("(.-\r\n\r\n)") do heads[#heads + 1] = head end
  return heads
end

function Proxy:stop()
  -- The whole group: the listener and one process per tunnel.
  spawn.stop(self.started, self.dir)
  self.dir = nil
end

return M
