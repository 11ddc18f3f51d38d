-- Test helper: a private redis-server on 127.0.0.1 and a free port, under "${TMPDIR:-/tmp}", with no
-- persistence. A watchdog stops it when the Lua process that started it is gone.
--   local r = redis.start()   -> r.url ("redis://127.0.0.1:PORT/0"), r.port, r:cli("GET", key)
--   r:kill()  (SIGKILL, as a crash) ; r:restart() (same port, empty) ; r:stop()
--   local t = redis.start_tls()  -> t.url ("rediss://..."), t.ca (its self-signed certificate, for 127.0.0.1)
--   redis.start_tls { cert = ..., key = ..., ca = ... }  -> with that certificate (e.g. the emulator's)

-- A wait between looks at a server: in this process (a shell per look costs a fork of the suite). Loaded
-- on use: hostile_redis runs this file as its own server process too, which must not load the core.
local function nap(seconds) require("falcon.core").sleep(seconds) end
local emulator = require "spec.helpers.emulator"
local spawn = require "spec.helpers.spawn"

local M = {}
M.__index = M
local quote, run, read_file = emulator.quote, emulator.run, emulator.read_file

local function free_port()
  local socket = require "socket"
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  server:close()
  return tonumber(port)
end

function M:cli(...)
  local args = {}
  for i, arg in ipairs({ ... }) do args[i] = quote(arg) end
  local tls = self.ca and ("--tls --cacert " .. quote(self.ca) .. " ") or ""
  local out = run("redis-cli " .. tls .. "-h 127.0.0.1 -p " .. self.port .. " " .. table.concat(args, " ") .. " 2>&1")
  return (out:gsub("%s+$", ""))
end

-- Starts redis-server on self.port; raises when it does not answer.
function M:_launch(extra)
  local conf = { "--port", tostring(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", self.dir, "--protected-mode", "no" }
  for _, arg in ipairs(extra or self.extra or {}) do conf[#conf + 1] = arg end
  for i, arg in ipairs(conf) do conf[i] = quote(arg) end
  os.remove(self.dir .. "/pid")
  -- $PPID is this Lua process: the watchdog ends the server once it is gone.
  run("setsid bash -c 'redis-server \"$@\" & echo $! > " .. quote(self.dir .. "/pid")
    .. "; while kill -0 $0 2>/dev/null && kill -0 $! 2>/dev/null; do sleep 0.2; done; kill $! 2>/dev/null' $PPID "
    .. table.concat(conf, " ") .. " </dev/null >" .. quote(self.dir .. "/log") .. " 2>&1 & :")
  for _ = 1, 300 do
    local answer = self:cli("PING")
    if answer == "PONG" or answer:find("NOAUTH", 1, true) then
      self.pid = (read_file(self.dir .. "/pid") or ""):match("%d+")
      return
    end
    nap(0.01)
  end
  error("redis-server did not start: " .. (read_file(self.dir .. "/log") or ""), 2)
end

--- Starts a server; `extra` adds redis-server arguments (e.g. {"--requirepass", "x"}).
function M.start(extra)
  local self = setmetatable({ dir = spawn.folder("redis"), port = free_port(), extra = extra }, M)
  self.url = "redis://127.0.0.1:" .. self.port .. "/0"
  self:_launch()
  return self
end

--- A server that speaks TLS only: with the certificate given, or a self-signed one naming 127.0.0.1.
function M.start_tls(given)
  local self = setmetatable({ dir = spawn.folder("redis"), port = free_port() }, M)
  local cert, key = given and given.cert, given and given.key
  self.ca = given and given.ca
  if not cert then
    cert, key = self.dir .. "/cert.pem", self.dir .. "/key.pem"
    self.ca = cert
    local _, code = run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext "
      .. "subjectAltName=IP:127.0.0.1 -keyout " .. quote(key) .. " -out " .. quote(cert) .. " >/dev/null 2>&1")
    assert(code == 0, "openssl failed")
  end
  self.extra = { "--port", "0", "--tls-port", tostring(self.port), "--tls-cert-file", cert, "--tls-key-file",
                 key, "--tls-ca-cert-file", self.ca, "--tls-auth-clients", "no" }
  self.url = "rediss://127.0.0.1:" .. self.port .. "/0"
  self:_launch()
  return self
end

--- Kills the server without warning (a crash); its data is gone.
function M:kill()
  if self.pid then
    run("kill -KILL " .. self.pid .. " 2>/dev/null; while kill -0 " .. self.pid .. " 2>/dev/null; do sleep 0.01; done")
  end
  self.pid = nil
end

--- Starts it again on the same port, empty.
function M:restart() self:kill(); self:_launch() end

--- Stops the server and removes its folder; safe to call twice.
function M:stop()
  self:kill()
  if self.dir then run("rm -rf " .. quote(self.dir)) end
  self.dir = nil
end

return M
