-- Test helper: a private nginx with ngx_lua running spec/helpers/ngx_app.lua, the SDK on its
-- lua_package_path and the LuaJIT build of the C core on its lua_package_cpath (nginx's Lua is LuaJIT).
--   local ngx_server = openresty.start{ workers = 1, config = {...} }  -> .url, .untrusted_url, :get(path), :stop()

-- A wait between looks at a server: in this process (a shell per look costs a fork of the suite). Loaded
-- on use: hostile_redis runs this file as its own server process too, which must not load the core.
local function nap(seconds) require("falcon.core").sleep(seconds) end
local cjson = require "cjson"
local emulator = require "spec.helpers.emulator"

local M = {}
local quote, run = emulator.quote, emulator.run

local function root()
  return emulator.script:match("^(.*)/emulator/falcon%-emulator$")
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- Ports below the ephemeral range that nothing listens on (as the emulator picks its own).
function M.free_ports(n)
  local used = run("ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | tr '\\n' ' '")
  local ports, seen = {}, {}
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  while #ports < n do
    local port = math.random(10000, 32000)
    if not seen[port] and not (" " .. used .. " "):find(" " .. port .. " ", 1, true) then
      seen[port] = true
      ports[#ports + 1] = port
    end
  end
  return ports
end

local CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
@USER@
daemon on;
master_process on;
worker_processes @WORKERS@;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log warn;
events { worker_connections 1024; accept_mutex off; }
http {
    access_log off;
    client_body_temp_path @DIR@/tmp;
    proxy_temp_path @DIR@/tmp;
    fastcgi_temp_path @DIR@/tmp;
    uwsgi_temp_path @DIR@/tmp;
    scgi_temp_path @DIR@/tmp;
    lua_package_path "@ROOT@/lua/?.lua;@ROOT@/lua/?/init.lua;@ROOT@/?.lua;/usr/share/lua/5.1/?.lua;;";
    lua_package_cpath "@ROOT@/build/luajit/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;";
    lua_shared_dict falcon_tokens 1m;
    lua_ssl_trusted_certificate @CA@;
    lua_ssl_verify_depth 3;
    lua_socket_log_errors off;
    init_by_lua_block { require("spec.helpers.ngx_app").init("@DIR@/config.json") }
    server {
        listen 127.0.0.1:@PORT@;
        location / { content_by_lua_block { require("spec.helpers.ngx_app").handle() } }
    }
    # A TLS server whose certificate no trusted CA signed (the "TLS failure" case).
    server {
        listen 127.0.0.1:@UNTRUSTED@ ssl;
        ssl_certificate @DIR@/self.pem;
        ssl_certificate_key @DIR@/self.key;
        location / { return 200 "{}"; }
    }
    @EXTRA@
}
]]

local Server = {}
Server.__index = Server

--- Starts nginx. opts: workers (default 1), emu (a started emulator), redis (a Redis URL for the fleet),
-- extra (http-level directives).
function M.start(opts)
  local emu = opts.emu
  local dir = run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-ngx.XXXXXX\""):gsub("%s+$", "")
  run("mkdir -p " .. quote(dir .. "/tmp"))
  local ports = M.free_ports(3)
  local _, code = run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -keyout "
    .. quote(dir .. "/self.key") .. " -out " .. quote(dir .. "/self.pem") .. " >/dev/null 2>&1")
  assert(code == 0, "openssl failed")
  local s = setmetatable({ dir = dir, url = "http://127.0.0.1:" .. ports[1],
                           untrusted_url = "https://127.0.0.1:" .. ports[2],
                           refused_url = "http://127.0.0.1:" .. ports[3] }, Server)
  write(dir .. "/config.json", cjson.encode {
    url = emu.url, tls_url = emu.tls_url, ca = emu.ca, client_id = emu.client_id, client_secret = emu.client_secret,
    refused_url = s.refused_url, untrusted_url = s.untrusted_url, redis = opts.redis,
  })
  local user = run("id -un"):gsub("%s+$", "")
  -- opts.extra: more http-level directives (their @DIR@ and the others are filled in too)
  local conf = CONF:gsub("@EXTRA@", function() return opts.extra or "" end):gsub("@(%u+)@", {
    USER = user == "root" and "user root;" or "", WORKERS = tostring(opts.workers or 1), DIR = dir, ROOT = root(),
    CA = emu.ca, PORT = tostring(ports[1]), UNTRUSTED = tostring(ports[2]),
  })
  write(dir .. "/nginx.conf", conf)
  local out
  out, code = run("nginx -p " .. quote(dir) .. " -c " .. quote(dir .. "/nginx.conf") .. " -e " .. quote(dir .. "/error.log")
    .. " 2>&1")
  if code ~= 0 then
    run("rm -rf " .. quote(dir))
    error("nginx failed to start: " .. out, 2)
  end
  for _ = 1, 100 do
    local _, c = run("curl -s -o /dev/null --max-time 1 " .. quote(s.url .. "/driver"))
    if c == 0 then return s end
    nap(0.05)
  end
  s:stop()
  error("nginx did not answer", 2)
end

--- GET path -> decoded JSON (raises with the body when not JSON).
function Server:get(path)
  local out = run("curl -sS --max-time 60 " .. quote(self.url .. path))
  local ok, decoded = pcall(cjson.decode, out)
  if not ok then error("nginx answered " .. out .. "\n" .. self:errors(), 2) end
  return decoded
end

function Server:errors()
  local f = io.open(self.dir .. "/error.log", "rb")
  if not f then return "" end
  local text = f:read("*a")
  f:close()
  return text
end

function Server:stop()
  if self.stopped then return end
  self.stopped = true
  local pid = run("cat " .. quote(self.dir .. "/nginx.pid") .. " 2>/dev/null"):gsub("%s+$", "")
  if pid:match("^%d+$") then
    run("kill -QUIT " .. pid .. " 2>/dev/null")
    for _ = 1, 100 do
      local _, alive = run("kill -0 " .. pid .. " 2>/dev/null")
      if alive ~= 0 then break end
      nap(0.05)
    end
    run("kill -KILL " .. pid .. " 2>/dev/null")
  end
  run("rm -rf " .. quote(self.dir))
end

return M
