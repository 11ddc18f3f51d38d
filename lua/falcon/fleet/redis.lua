--- Redis for a fleet (falcon.fleet, falcon.fleet.lease): one link per client, one RESP reader (falcon.fleet.resp) over
-- two kinds of socket, which share the API it needs (settimeout, send, receive):
-- * inside nginx, where cosockets work: ngx.socket.tcp, from nginx's keepalive pool, so the worker is
--   never blocked;
-- * elsewhere: luasocket (luasec for TLS), one kept connection per link.
-- Redis's answers are input: falcon.fleet.resp bounds every line, length and count, each round trip (send and
-- whole reply) has one deadline, `timeout` from now, and every command names the shape of the reply it
-- expects (redis.shape): an answer of another shape is a failure like a dead Redis, never a value.
-- lua-resty-redis (Debian's lua-nginx-redis) is not used: it allocates a table of the size an array
-- reply announces and reads a bulk of any announced length, and its timeout is per read.
-- Every call returns the reply, or nil, a message and "network" (Redis unreachable, too slow, or not
-- answering as Redis does: the fleet degrades) or "reply" (Redis answered with an error). The password is
-- never in a message.
-- luacheck: globals ngx
local core = require "falcon.core"
local cosocket_driver = require "falcon.drivers.cosocket"
local errors = require "falcon.base.errors"
local resp = require "falcon.fleet.resp"
local untrusted = require "falcon.base.untrusted"

local redis = {}
local unpack = table.unpack or unpack -- luacheck: ignore 143

--- The nil reply (a missing key) and the status +OK, one value each under both transports.
redis.null, redis.OK = resp.null, resp.OK

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

------------------------------------------------------------------------------------------- shapes

--- The shapes of replies: each is true for a reply a command may be answered with.
local shape = {}
redis.shape = shape
function shape.ok(v) return v == resp.OK end
function shape.ok_or_null(v) return v == resp.OK or v == resp.null end
function shape.integer(v) return type(v) == "number" end
function shape.string(v) return type(v) == "string" end
function shape.string_or_null(v) return type(v) == "string" or v == resp.null end
function shape.sha1(v) return type(v) == "string" and #v == 40 and v:find("^%x+$") ~= nil end
--- An array of `min`..`max` items, each true for `item`, and the whole true for `whole` (optional).
function shape.array(min, max, item, whole)
  return function(v)
    if type(v) ~= "table" or v == resp.null or v == resp.OK or #v < min or #v > max then return false end
    for i = 1, #v do if not item(v[i]) then return false end end
    return whole == nil or whole(v)
  end
end

--- A Lua script Redis keeps (EVALSHA), and the shape of its answer.
function redis.script(source, expect)
  return { source = source, expect = expect }
end

------------------------------------------------------------------------------------- socket kinds

-- luasocket (and luasec, which has the same API): seconds, and a receive that waits for what it is asked.
local luasocket = {}

-- The peer's next bytes, at most resp.CHUNK, waiting until `deadline` at most: the first byte with the
-- time left, then whatever else has arrived, without waiting.
function luasocket.more(sock, deadline)
  return function()
    local left = deadline - core.now()
    if left <= 0 then return nil, "timeout" end
    sock:settimeout(left)
    local first, err = sock:receive(1)
    if not first then return nil, err end
    sock:settimeout(0)
    local rest, _, partial = sock:receive(resp.CHUNK - 1)
    return first .. (rest or partial or "")
  end
end

function luasocket.send(sock, data, deadline)
  local left = deadline - core.now()
  if left <= 0 then return nil, "timeout" end
  sock:settimeout(left)
  return sock:send(data)
end

-- A kept connection with bytes waiting on it (a late answer, or Redis closed it) is not used again.
function luasocket.stale(sock)
  sock:settimeout(0)
  local stray, err = sock:receive(1)
  return stray ~= nil or err == "closed"
end

-- ngx cosockets: milliseconds, and receiveany (whatever has arrived, waiting for at least a byte).
local cosockets = {}

local function ms(deadline) return math.max(1, math.floor((deadline - core.now()) * 1000)) end

function cosockets.more(sock, deadline)
  return function()
    if deadline <= core.now() then return nil, "timeout" end
    sock:settimeout(ms(deadline))
    return sock:receiveany(resp.CHUNK)
  end
end

function cosockets.send(sock, data, deadline)
  if deadline <= core.now() then return nil, "timeout" end
  sock:settimeout(ms(deadline))
  return sock:send(data)
end

----------------------------------------------------------------------------------------------- link

local Link = {}
Link.__index = Link

--- A link from settings (redis.settings). Nothing is connected until the first call. `max_bulk`: the
--- longest value its replies may hold (default resp.MAX_BULK, what the fleet's own keys hold).
function redis.link(settings, max_bulk)
  local password = settings.password -- kept out of the link's table
  local link = setmetatable({ settings = settings, sock = nil, shas = {}, max_bulk = max_bulk }, Link)
  link.settings.password = nil
  function link.credentials()
    if not password then return nil end
    if settings.username then return settings.username, password end
    return password
  end
  link.where = settings.host .. ":" .. settings.port
  return link
end

-- One round trip on `sock` of `kind`: the command out and its whole reply in before `deadline`.
local function round_trip(kind, sock, args, n, deadline, max_bulk)
  local sent, err = kind.send(sock, resp.encode(args, n), deadline)
  if not sent then return nil, err end
  return resp.read(kind.more(sock, deadline), max_bulk)
end

-- The first commands on a new connection: AUTH and SELECT, before `deadline`.
function Link:_greet(kind, sock, deadline)
  local a, b = self.credentials()
  if a then
    local ok, err = round_trip(kind, sock, b and { "AUTH", a, b } or { "AUTH", a }, b and 3 or 2, deadline)
    if ok ~= resp.OK then return nil, "AUTH refused by Redis at " .. self.where .. ": " .. tostring(err or ok) end
  end
  if self.settings.db ~= 0 then
    local ok, err = round_trip(kind, sock, { "SELECT", self.settings.db }, 2, deadline)
    if ok ~= resp.OK then return nil, "SELECT refused: " .. tostring(err or ok) end
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

local function wrap_tls(sock, s, deadline)
  local ssl = require "ssl" -- luasec: an optional package, needed only for Redis over TLS outside nginx
  local wrapped, err = ssl.wrap(sock, { mode = "client", protocol = "any", verify = s.ssl_verify and "peer" or "none",
                                        options = "all", cafile = s.ca_bundle })
  if not wrapped then return nil, err end
  wrapped:settimeout(math.max(0.001, deadline - core.now()))
  wrapped:sni(s.host)
  local ok
  ok, err = wrapped:dohandshake()
  if ok and s.ssl_verify and not certificate_names(wrapped, s.host:lower()) then
    ok, err = nil, "certificate does not name " .. s.host
  end
  if not ok then
    wrapped:close()
    return nil, "TLS handshake: " .. tostring(err)
  end
  return wrapped
end

-- luasocket: the kept connection, or a new one (connected, TLS, greeted) before `deadline`.
function Link:_plain_socket(deadline)
  if self.sock and not luasocket.stale(self.sock) then return self.sock end
  self:close()
  local s = self.settings
  local sock = require("socket").tcp() -- luasocket: optional, needed only by a fleet outside nginx
  sock:settimeout(math.max(0.001, deadline - core.now()))
  local ok, err = sock:connect(s.host, s.port)
  if not ok then
    sock:close()
    return nil, err
  end
  sock:setoption("tcp-nodelay", true)
  if s.tls then
    sock, err = wrap_tls(sock, s, deadline)
    if not sock then return nil, err end
  end
  ok, err = self:_greet(luasocket, sock, deadline)
  if not ok then
    sock:close()
    return nil, err
  end
  self.sock = sock
  return sock
end

-- ngx cosockets: a connection from nginx's pool (a pooled one with bytes waiting is closed by nginx),
-- or a new one, connected, TLS, greeted, before `deadline`.
function Link:_cosocket(deadline)
  local s = self.settings
  local sock = ngx.socket.tcp()
  sock:settimeout(ms(deadline))
  local ok, err = sock:connect(s.host, s.port, { pool = "falcon-fleet:" .. self.where .. "/" .. s.db .. "/"
                                                         .. (s.username or "") })
  if not ok then return nil, err end
  if sock:getreusedtimes() == 0 then
    if s.tls then
      local name = cosocket_driver.server_name { host = s.host, ssl_verify = s.ssl_verify }
      ok, err = sock:sslhandshake(nil, name, s.ssl_verify)
      if not ok then
        sock:close()
        return nil, "TLS handshake: " .. tostring(err)
      end
    end
    ok, err = self:_greet(cosockets, sock, deadline)
    if not ok then
      sock:close()
      return nil, err
    end
  end
  return sock
end

-- One command under driver `d`: value, or nil and why, or false and an error reply's text.
function Link:_run(d, args, n)
  local s = self.settings
  local cosocket = d.name == "cosocket"
  local kind = cosocket and cosockets or luasocket
  local sock, err
  if cosocket then sock, err = self:_cosocket(core.now() + s.timeout)
  else sock, err = self:_plain_socket(core.now() + s.timeout) end
  if not sock then return nil, err end
  local value
  value, err = round_trip(kind, sock, args, n, core.now() + s.timeout, self.max_bulk)
  if value == nil then
    -- A late reply would answer the next command: the connection is done.
    sock:close()
    if not cosocket then self.sock = nil end
  elseif cosocket then
    sock:setkeepalive(60000, 64)
  end
  return value, err
end

local function failure(self, err, kind)
  return nil, "Redis at " .. self.where .. ": " .. untrusted.printable(tostring(err)), kind
end

--- Runs one command under driver `d` (on a cosocket when d is the cosocket driver); `expect` is the shape
--- of reply the command is answered with (redis.shape).
---@return any reply, string|nil err, string|nil kind "network" or "reply"
function Link:call(d, expect, ...)
  local n = select("#", ...)
  local value, err = self:_run(d, { ... }, n)
  if value == nil then return failure(self, err, "network") end
  if value == false then return failure(self, err, "reply") end
  if not expect(value) then
    self:close()
    return failure(self, "an answer to " .. tostring((...)) .. " of an unexpected shape", "network")
  end
  return value
end

--- Runs a script (redis.script) kept by Redis (EVALSHA; loaded on first use and again after Redis
--- restarted).
function Link:script(d, script, keys, ...)
  local args = { "EVALSHA", self.shas[script] or "", #keys }
  for _, key in ipairs(keys) do args[#args + 1] = key end
  for i = 1, select("#", ...) do args[#args + 1] = (select(i, ...)) end
  if self.shas[script] then
    local value, err, kind = self:call(d, script.expect, unpack(args))
    if value ~= nil or kind ~= "reply" or not err:find("NOSCRIPT", 1, true) then return value, err, kind end
  end
  local loaded, err, kind = self:call(d, shape.sha1, "SCRIPT", "LOAD", script.source)
  if not loaded then return nil, err, kind end
  self.shas[script], args[2] = loaded, loaded
  return self:call(d, script.expect, unpack(args))
end

function Link:close()
  if self.sock then self.sock:close() end
  self.sock = nil
end

return redis
