--- Redis for a fleet (falcon.fleet, falcon.lease): one link per client, two transports.
-- * Inside nginx, where cosockets work: lua-resty-redis (Debian's lua-nginx-redis, `nginx.redis`) on a
--   cosocket from nginx's keepalive pool, so the worker is never blocked.
-- * Elsewhere: a small RESP client written here over luasocket (luasec for TLS). Every connect, write and
--   read is bounded by `timeout`, so a slow or dead Redis holds the caller (and the other tasks of a curl
--   multi loop) for one bounded round trip at most. Debian's lua-redis was not used: it blocks the same
--   way, raises on a refused connection, and has no TLS; hiredis 0.14 (Debian 12) has no TLS either.
-- Every call returns the reply, or nil, a message and "network" (Redis unreachable or too slow: the
-- fleet degrades) or "reply" (Redis answered with an error). The password is never in a message.
-- luacheck: globals ngx
local errors = require "falcon.errors"

local redis = {}
local unpack = table.unpack or unpack -- luacheck: ignore 143

--- The nil reply (a missing key), one value under both transports.
redis.null = setmetatable({}, { __tostring = function() return "redis.null" end })

redis.DEFAULT_TIMEOUT = 0.25

local function fail(key, expected, got)
  errors.bad_option(nil, "coordination." .. key, ("%s expected, got %s"):format(expected, got))
end

--- The connection settings from a coordination table: `redis = "redis://[user:password@]host:port/db"`
-- (`rediss://` for TLS), and optionally password, username, tls, ca_bundle, ssl_verify, timeout.
function redis.settings(conf)
  local url = conf.redis
  if type(url) ~= "string" then fail("redis", "a redis://host:port/db URL", type(url)) end
  local scheme, rest = url:match("^(rediss?)://(.+)$")
  if not scheme then fail("redis", "a redis:// or rediss:// URL", "a string without one") end
  local userinfo, hostport, db = rest:match("^(.-)@?([^@/]+)/?(%d*)$")
  if not hostport then fail("redis", "redis://host:port/db", "an unreadable URL") end
  local host, port = hostport:match("^(.-):(%d+)$")
  host, port = host or hostport, tonumber(port) or 6379
  if host == "" or port < 1 or port > 65535 then fail("redis", "a host and a port 1..65535", "neither") end
  local user, password = userinfo:match("^([^:]*):(.*)$")
  if userinfo ~= "" and not user then user = userinfo end
  local tls = conf.tls
  if tls == nil then tls = scheme == "rediss" end
  local timeout = conf.timeout or redis.DEFAULT_TIMEOUT
  if type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0 or timeout > 60 then
    fail("timeout", "seconds in (0, 60]", tostring(timeout))
  end
  local ssl_verify = conf.ssl_verify
  if ssl_verify == nil then ssl_verify = true end
  return {
    host = host, port = port, db = tonumber(db) or 0, tls = tls, timeout = timeout,
    username = conf.username or (user ~= "" and user or nil),
    password = conf.password or password,
    ca_bundle = conf.ca_bundle, ssl_verify = ssl_verify,
  }
end

-- RESP, the protocol: a command is an array of bulk strings.
local function encode(args, n)
  local parts = { "*" .. n .. "\r\n" }
  for i = 1, n do
    local arg = tostring(args[i])
    parts[#parts + 1] = "$" .. #arg .. "\r\n" .. arg .. "\r\n"
  end
  return table.concat(parts)
end

local MAX_DEPTH = 8

-- One reply from sock: value, or false and the error text of an error reply, or nil and a network error.
local function read_reply(sock, depth)
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local kind, rest = line:sub(1, 1), line:sub(2)
  if kind == "+" then return rest end
  if kind == "-" then return false, rest end
  if kind == ":" then return tonumber(rest) end
  local n = tonumber(rest)
  if not n or (kind ~= "$" and kind ~= "*") then return nil, "protocol error: " .. line:sub(1, 40) end
  if n < 0 then return redis.null end
  if kind == "$" then
    local data
    data, err = sock:receive(n + 2)
    if not data then return nil, err end
    return data:sub(1, n)
  end
  if depth >= MAX_DEPTH then return nil, "protocol error: nesting too deep" end
  local list = {}
  for i = 1, n do
    local value
    value, err = read_reply(sock, depth + 1)
    if value == nil then return nil, err end
    if value == false then return false, err end
    list[i] = value
  end
  return list
end

local Link = {}
Link.__index = Link

--- A link from settings (redis.settings). Nothing is connected until the first call.
function redis.link(settings)
  local password = settings.password -- kept out of the link's table
  local link = setmetatable({ settings = settings, sock = nil, shas = {} }, Link)
  link.settings.password = nil
  function link.credentials()
    if not password then return nil end
    if settings.username then return settings.username, password end
    return password
  end
  link.where = settings.host .. ":" .. settings.port
  return link
end

-- The first commands on a new connection: AUTH and SELECT, through `run(args)`.
function Link:_greet(run)
  local a, b = self.credentials()
  if a then
    local ok, err = run(b and { "AUTH", a, b } or { "AUTH", a })
    if not ok then return nil, "AUTH refused by Redis at " .. self.where .. ": " .. tostring(err) end
  end
  if self.settings.db ~= 0 then
    local ok, err = run { "SELECT", self.settings.db }
    if not ok then return nil, "SELECT refused: " .. tostring(err) end
  end
  return true
end

-- luasec verifies the chain only: the name is checked here (subjectAltName DNS names, with a wildcard
-- in the first label, and IP addresses; the common name only when there is no subjectAltName).
local function certificate_names(sock, host)
  local cert = sock:getpeercertificate()
  if not cert then return false end
  local alt = (cert:extensions() or {})["2.5.29.17"]
  local function matches(name)
    if name == host then return true end
    local rest = name:match("^%*(%..+)$")
    return rest ~= nil and host:sub(-#rest) == rest and not host:sub(1, -#rest - 1):find("%.")
           and #host > #rest
  end
  if alt then
    for _, name in ipairs(alt.dNSName or {}) do if matches(name:lower()) then return true end end
    for _, ip in ipairs(alt.iPAddress or {}) do if ip == host then return true end end
    return false
  end
  for _, field in ipairs(cert:subject()) do
    if field.name == "commonName" and matches(field.value:lower()) then return true end
  end
  return false
end

-- luasocket transport: one kept connection per link.
function Link:_plain_connect()
  local socket = require "socket"
  local s = self.settings
  local sock = socket.tcp()
  sock:settimeout(s.timeout)
  local ok, err = sock:connect(s.host, s.port)
  if not ok then
    sock:close()
    return nil, err
  end
  sock:setoption("tcp-nodelay", true)
  if s.tls then
    local ssl = require "ssl"
    local wrapped
    wrapped, err = ssl.wrap(sock, { mode = "client", protocol = "any", verify = s.ssl_verify and "peer" or "none",
                                     options = "all", cafile = s.ca_bundle })
    if not wrapped then
      sock:close()
      return nil, err
    end
    sock = wrapped
    sock:settimeout(s.timeout)
    sock:sni(s.host)
    ok, err = sock:dohandshake()
    if ok and s.ssl_verify and not certificate_names(sock, s.host:lower()) then
      ok, err = nil, "certificate does not name " .. s.host
    end
    if not ok then
      sock:close()
      return nil, "TLS handshake: " .. tostring(err)
    end
  end
  local greeted
  greeted, err = self:_greet(function(args)
    local sent, send_err = sock:send(encode(args, #args))
    if not sent then return nil, send_err end
    return read_reply(sock, 0)
  end)
  if not greeted then
    sock:close()
    return nil, err
  end
  self.sock = sock
  return sock
end

function Link:_plain_call(args, n)
  local sock = self.sock
  if not sock then
    local err
    sock, err = self:_plain_connect()
    if not sock then return nil, err end
  end
  local sent, err = sock:send(encode(args, n))
  local value
  if sent then value, err = read_reply(sock, 0) end
  if value == nil then
    -- A late reply would answer the next command: the connection is done.
    sock:close()
    self.sock = nil
  end
  return value, err
end

-- cosocket transport: a connection from nginx's pool for each call, back to the pool after it.
function Link:_cosocket_call(args, n)
  local resty = require "nginx.redis"
  local s = self.settings
  local red, err = resty:new()
  if not red then return nil, err end
  red:set_timeout(math.ceil(s.timeout * 1000))
  local ok
  ok, err = red:connect(s.host, s.port, { pool = "falcon-fleet:" .. self.where .. "/" .. s.db })
  if not ok then return nil, err end
  if red:get_reused_times() == 0 then
    if s.tls then
      local name = require("falcon.cosocket").server_name { host = s.host, ssl_verify = s.ssl_verify }
      ok, err = rawget(red, "_sock"):sslhandshake(nil, name, s.ssl_verify)
      if not ok then
        red:close()
        return nil, "TLS handshake: " .. tostring(err)
      end
    end
    ok, err = self:_greet(function(a) return red[a[1]:lower()](red, unpack(a, 2)) end)
    if not ok then
      red:close()
      return nil, err
    end
  end
  local value
  value, err = red[args[1]:lower()](red, unpack(args, 2, n))
  if value == nil then
    red:close()
  else
    red:set_keepalive(60000, 64)
    if value == ngx.null then value = redis.null end
    if type(value) == "table" then
      for i, v in ipairs(value) do if v == ngx.null then value[i] = redis.null end end
    end
  end
  return value, err
end

--- Runs one command under driver `d` (the cosocket transport when d is the cosocket driver).
---@return any reply, string|nil err, string|nil kind "network" or "reply"
function Link:call(d, ...)
  local args = { ... }
  local n = select("#", ...)
  local value, err
  if d.name == "cosocket" then value, err = self:_cosocket_call(args, n) else value, err = self:_plain_call(args, n) end
  if value == nil then return nil, "Redis at " .. self.where .. ": " .. tostring(err), "network" end
  if value == false then return nil, "Redis at " .. self.where .. ": " .. tostring(err), "reply" end
  return value
end

--- Runs a Lua script kept by Redis (EVALSHA; loaded on first use and again after Redis restarted).
function Link:script(d, source, keys, ...)
  local args = { "EVALSHA", self.shas[source] or "", #keys }
  for _, key in ipairs(keys) do args[#args + 1] = key end
  for i = 1, select("#", ...) do args[#args + 1] = (select(i, ...)) end
  if self.shas[source] then
    local value, err, kind = self:call(d, unpack(args))
    if value ~= nil or kind ~= "reply" or not err:find("NOSCRIPT", 1, true) then return value, err, kind end
  end
  local loaded, err, kind = self:call(d, "SCRIPT", "LOAD", source)
  if not loaded then return nil, err, kind end
  self.shas[source], args[2] = loaded, loaded
  return self:call(d, unpack(args))
end

function Link:close()
  if self.sock then self.sock:close() end
  self.sock = nil
end

return redis
