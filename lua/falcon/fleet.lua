--- Many processes, one API client: the `coordination = { redis = "redis://host:port/db", ... }` option.
-- Every process of a fleet that names the same Redis (and prefix) shares, per (client id, member CID):
-- * one token: fetched by one process under a Redis lock (SET NX PX) and stored sealed (csrc/tokenseal.c:
--   AES-256-GCM under a key derived from the client secret), adopted by the others; while one renews, the
--   others go on with the token they hold until it is replaced;
-- * one rate budget: a generic cell rate algorithm run by Redis (TAKE below), sized from X-Ratelimit-Limit,
--   from which every request reserves its slot; a 429 seen anywhere pauses the whole fleet.
-- Redis down, slow or refusing is not an API failure: the process warns once, goes on alone (its own token,
-- its own pacing), tries Redis again every `retry_interval` seconds and says when it is back.
local compat = require "falcon.compat"
local core = require "falcon.core"
local errors = require "falcon.errors"
local options = require "falcon.options"
local redis = require "falcon.redis"

local fleet = {}
fleet.__index = fleet

--- The keys of the coordination table.
fleet.schema = {
  redis = "string", password = "string", username = "string", tls = "boolean", ca_bundle = "string",
  ssl_verify = "boolean", prefix = "string", timeout = "number", retry_interval = "number", permits = "number",
}

-- How long one process may hold the renewal lock, and how often the others look again meanwhile.
fleet.LOCK_TTL, fleet.POLL = 30, 0.02
-- The budget: a share of X-Ratelimit-Limit per window, and a burst, chosen so that no window of
-- WINDOW seconds (fixed or sliding) ever sees more than the limit, even with the permits processes hold.
fleet.WINDOW, fleet.SHARE, fleet.BURST = 60, 0.96, 0.02
-- A reserved slot not used this long after its time is dropped (it stays counted).
fleet.SLOT_GRACE = 0.5

-- KEYS: budget hash {tat, limit}, pause. ARGV: permits wanted, limit seen (0: unknown), window (s),
-- longest wait accepted (ms). Returns {n, delay_1 .. delay_n} (ms from now for each reserved slot), or
-- {0, delay} when the first slot (or the end of a pause) is further away than the caller waits.
local TAKE = [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if paused > now then return {0, paused - now} end
local limit = tonumber(ARGV[2])
if limit > 0 then redis.call('HSET', KEYS[1], 'limit', limit)
else limit = tonumber(redis.call('HGET', KEYS[1], 'limit') or '0') or 0 end
local interval, burst = 200, 1
if limit > 0 then
  interval = tonumber(ARGV[3]) * 1000 / (limit * ]] .. fleet.SHARE .. [[)
  burst = math.max(1, math.floor(limit * ]] .. fleet.BURST .. [[))
end
local tolerance = (burst - 1) * interval
local tat = math.max(tonumber(redis.call('HGET', KEYS[1], 'tat') or '0') or 0, now)
local longest = tonumber(ARGV[4])
local reply = {0}
for i = 1, tonumber(ARGV[1]) do
  local delay = math.max(0, tat - tolerance - now)
  if delay > longest then break end
  reply[1] = i
  reply[i + 1] = math.ceil(delay)
  tat = tat + interval
end
if reply[1] == 0 then return {0, math.ceil(math.max(0, tat - tolerance - now))} end
redis.call('HSET', KEYS[1], 'tat', tostring(tat))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2000)
return reply
]]

-- KEYS: pause. ARGV: milliseconds from now. The fleet pauses until the latest time any 429 named.
local PAUSE = [[
local t = redis.call('TIME')
local untill = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if untill > current then redis.call('SET', KEYS[1], untill, 'PX', ARGV[1]) end
return untill
]]

-- KEYS: token, lock. ARGV: lock owner, expires_at, sealed token, ttl (ms). Stores a new generation and
-- lets go of the lock if it is still this owner's.
local STORE = [[
local current = redis.call('GET', KEYS[1])
local generation = 1
if current then generation = (tonumber(string.match(current, '^[^\n]*\n(%d+)\n')) or 0) + 1 end
redis.call('SET', KEYS[1], ARGV[2] .. '\n' .. generation .. '\n' .. ARGV[3], 'PX', ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return generation
]]

-- KEYS: lock. ARGV: owner. Deletes the lock only if it is still this owner's.
local UNLOCK = [[
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
]]

local function bad(key, expected, got)
  errors.bad_option(nil, "coordination." .. key, ("%s expected, got %s"):format(expected, got))
end

--- Checks a coordination table (unknown keys are an error); returns Redis settings and fleet settings.
function fleet.check(conf)
  options.check_keys(nil, conf, fleet.schema, "coordination.")
  for key, value in pairs(conf) do
    if type(value) ~= fleet.schema[key] then bad(key, fleet.schema[key], type(value)) end
  end
  local settings = redis.settings(conf)
  local prefix = conf.prefix or "falcon"
  if prefix == "" or prefix:find("[%s%c]") then bad("prefix", "a non-empty key prefix without spaces", "'" .. prefix .. "'") end
  local retry = conf.retry_interval or 1
  if retry ~= retry or retry <= 0 or retry > 3600 then bad("retry_interval", "seconds in (0, 3600]", tostring(retry)) end
  local permits = conf.permits or 1
  if permits ~= math.floor(permits) or permits < 1 or permits > 16 then
    bad("permits", "a whole number 1..16", tostring(permits))
  end
  return settings, { prefix = prefix, retry_interval = retry, permits = permits }
end

--- A fleet for falcon.Client `client` (its core, renew_window and warn function).
function fleet.new(client, conf)
  local settings, own = fleet.check(conf)
  local the_core = client.core
  if not the_core:token_info().has_credentials then
    errors.bad_option(nil, "coordination", "needs client_id and client_secret: a handed-in token is not shared")
  end
  local base = own.prefix .. ":{" .. the_core:fleet_id() .. "}:"
  return setmetatable({
    client = client, core = the_core, link = redis.link(settings), conf = conf, -- conf: for falcon.EventStream
    retry_interval = own.retry_interval, permits = own.permits,
    keys = { token = base .. "token", lock = base .. "token:lock", budget = base .. "budget", pause = base .. "pause" },
    owner = ("%x-%x"):format(math.random(0, 0x3fffffff), math.floor(core.now() * 1e6) % 0x7fffffff),
    generation = nil, -- of the shared token this process holds
    slots = {},       -- reserved budget slots (local times), oldest first
    down_until = nil, -- while Redis failed: per-process behaviour until then
    -- counters for the bench and the specs
    stats = { round_trips = 0, token_fetches = 0, alone_fetches = 0, adopted = 0, lost = 0, back = 0 },
  }, fleet)
end

-- Redis answered: if it had failed, say that sharing is back.
function fleet:_answered()
  if self.down_until then
    self.down_until = nil
    self.stats.back = self.stats.back + 1
    self.client:_warn("coordination: Redis at " .. self.link.where .. " answers again: shared token and budget")
  end
end

-- Redis failed: one warning per outage, then per-process behaviour until retry_interval has passed.
function fleet:_lost(d, err)
  if not self.down_until then
    self.stats.lost = self.stats.lost + 1
    self.client:_warn("coordination: " .. err .. "; going on alone (own token and pacing) until it answers")
  end
  self.down_until = d.now() + self.retry_interval
  self.link:close()
end

function fleet:_shared(d) return not self.down_until or d.now() >= self.down_until end

-- One command or script; nil after a failure (then the caller behaves as a lone process).
function fleet:_call(d, script, keys, ...)
  self.stats.round_trips = self.stats.round_trips + 1
  local value, err
  if script then value, err = self.link:script(d, script, keys, ...) else value, err = self.link:call(d, ...) end
  if value == nil then
    self:_lost(d, err)
    return nil
  end
  self:_answered()
  return value
end

---------------------------------------------------------------------------------------------- budget

--- Waits for this request's slot in the fleet's budget; returns the time after the wait. Waits longer
-- than `longest` seconds are not taken (the API then answers for itself, as for a lone process).
function fleet:take(d, limit, longest)
  local slots = self.slots
  while true do
    local now = d.now()
    while slots[1] and slots[1] + fleet.SLOT_GRACE < now do table.remove(slots, 1) end
    local slot = table.remove(slots, 1)
    if slot then
      if slot > now then d.sleep(slot - now) end
      return d.now()
    end
    if not self:_shared(d) then return now end
    local reply = self:_call(d, TAKE, { self.keys.budget, self.keys.pause }, self.permits,
                             math.floor(limit or 0), fleet.WINDOW, math.floor(longest * 1000))
    if not reply then return d.now() end
    now = d.now()
    if reply[1] == 0 then
      local wait = reply[2] / 1000
      if wait > longest then return now end
      d.sleep(wait)
    else
      for i = 1, reply[1] do slots[#slots + 1] = now + reply[i + 1] / 1000 end
    end
  end
end

--- A 429 seen by this process pauses the fleet for `seconds`.
function fleet:pause(d, seconds)
  self.slots = {}
  if self:_shared(d) then self:_call(d, PAUSE, { self.keys.pause }, math.max(1, math.ceil(seconds * 1000))) end
end

----------------------------------------------------------------------------------------------- token

-- The shared token entry {expires_at, generation, sealed}, nil when absent, false when Redis failed.
function fleet:_read(d)
  local value = self:_call(d, nil, nil, "GET", self.keys.token)
  if value == nil then return false end
  if value == redis.null then return nil end
  local expires_at, generation, sealed = value:match("^([^\n]+)\n(%d+)\n(.+)$")
  if not sealed then return nil end
  return { expires_at = tonumber(expires_at), generation = tonumber(generation), sealed = sealed }
end

-- Adopts the entry if it is not the token this process already had (refused, or itself due) and does not
-- expire within `margin` seconds (the renew window, unless said). Returns what a token exchange returns,
-- or nil.
function fleet:_adopt(entry, now, margin)
  if not entry or not entry.expires_at or entry.generation == self.generation then return nil end
  if entry.expires_at - now <= (margin or self.client.renew_window) then return nil end
  if not self.core:adopt_sealed(entry.sealed, entry.expires_at) then return nil end
  self.generation = entry.generation
  self.stats.adopted = self.stats.adopted + 1
  return 201, {}, nil, { expires_in = entry.expires_at - now, shared = true }
end

-- This process holds the lock: fetch a token and store it sealed.
function fleet:_fetch(d, locked)
  -- compat.pcall: the driver may yield (curl multi), which Lua 5.1 cannot do across pcall
  local ok, status, headers, body, info = compat.pcall(d.exchange, self.core, "token")
  self.stats.token_fetches = self.stats.token_fetches + 1
  local sealed, expires_at
  if ok and status and body == nil then sealed, expires_at = self.core:seal_token() end
  if sealed then
    local ttl = math.max(1000, math.floor((expires_at - d.now()) * 1000))
    local generation = self:_call(d, STORE, { self.keys.token, self.keys.lock }, self.owner,
                                  ("%.3f"):format(expires_at), sealed, ttl)
    self.generation = generation
  elseif locked then
    self:_call(d, UNLOCK, { self.keys.lock }, self.owner)
  end
  if not ok then error(status, 0) end
  return status, headers, body, info
end

-- Without Redis: the token exchange of a lone process.
function fleet:_alone(d)
  self.stats.alone_fetches = self.stats.alone_fetches + 1
  return d.exchange(self.core, "token")
end

--- Replaces the driver's token exchange: adopt the fleet's token, or fetch it (one process for the fleet).
function fleet:authenticate(d)
  if not self:_shared(d) then return self:_alone(d) end
  local deadline = d.now() + fleet.LOCK_TTL
  while true do
    local entry = self:_read(d)
    if entry == false then return self:_alone(d) end
    local status, headers, body, info = self:_adopt(entry, d.now())
    if status then return status, headers, body, info end
    local locked = self:_call(d, nil, nil, "SET", self.keys.lock, self.owner, "NX", "PX", fleet.LOCK_TTL * 1000)
    if locked == nil then return self:_alone(d) end
    if locked ~= redis.null then
      -- Another process may have stored a token between the read and the lock.
      status, headers, body, info = self:_adopt(self:_read(d) or nil, d.now())
      if status then
        self:_call(d, UNLOCK, { self.keys.lock }, self.owner)
        return status, headers, body, info
      end
      return self:_fetch(d, true)
    end
    -- Another process renews: the token held stays in use until it is replaced; a process that holds
    -- none takes the current one, due as it is, if it is still good for a few seconds.
    if self.core:token_fresh(0) then return 201, {}, nil, { shared = true, kept = true } end
    status, headers, body, info = self:_adopt(entry, d.now(), fleet.POLL * 100)
    if status then return status, headers, body, info end
    if d.now() > deadline then return self:_fetch(d, false) end -- the holder died with the lock
    d.sleep(fleet.POLL)
  end
end

function fleet:close() self.link:close() end

return fleet
