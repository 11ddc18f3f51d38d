--- Many processes, one API client: the `coordination = { redis = "redis://host:port/db", ... }` option.
-- Every process of a fleet that names the same Redis (and prefix) shares, per (client id, member CID):
-- * one token: fetched by one process under a Redis lock (SET NX PX) and stored sealed (csrc/tokenseal.c:
--   AES-256-GCM under a key derived from the client secret), adopted by the others; while one renews, the
--   others go on with the token they hold until it is replaced;
-- * one rate budget: a generic cell rate algorithm run by Redis (TAKE below), sized from X-Ratelimit-Limit,
--   from which every request reserves its slot, never more than HORIZON ahead of the present (so a limit
--   learnt applies at once); a 429 seen anywhere pauses every task of every process, those holding a slot
--   too (the pause is looked at again before sending).
-- fleet:take is the one place every request's wait goes through: a slot or a pause past the caller's
-- bound (max_retry_wait and its timeout) is refused (kind "rate_limit"), never slept on.
-- Redis down, slow, refusing or answering what it should not is not an API failure: the process warns
-- once, goes on alone (its own token, its fair share of the budget last known, with spread wake-ups),
-- tries Redis again every `retry_interval` seconds and says when it is back.
local compat = require "falcon.base.compat"
local core = require "falcon.core"
local errors = require "falcon.base.errors"
local options = require "falcon.base.options"
local policy = require "falcon.base.policy"
local redis = require "falcon.fleet.redis"
local untrusted = require "falcon.base.untrusted"

local fleet = {}
fleet.__index = fleet

local shape = redis.shape

--- The keys of the coordination table.
fleet.schema = {
  redis = "string", password = "string", username = "string", tls = "boolean", ca_bundle = "string",
  ssl_verify = "boolean", prefix = "string", timeout = "number", retry_interval = "number", permits = "number",
}

-- How long one process may hold the renewal lock; the others look again meanwhile after a backoff from
-- LOOK to LOOK_MAX seconds (another process's progress shows only in Redis). A process that holds no token
-- takes the shared one, due as it is, while it is good for ADOPT_MARGIN seconds more.
fleet.LOCK_TTL, fleet.LOOK, fleet.LOOK_MAX, fleet.ADOPT_MARGIN = 30, 0.02, 0.5, 2
-- The budget: a share of X-Ratelimit-Limit per window, and a burst, chosen so that no window of
-- WINDOW seconds (fixed or sliding) ever sees more than the limit, even with the permits processes hold.
fleet.WINDOW, fleet.SHARE, fleet.BURST = 60, 0.96, 0.02
-- Before any answer has named the limit, the fleet sends one request every COLD seconds.
fleet.COLD = 0.2
-- A slot is reserved at most HORIZON seconds ahead of Redis's clock: what is reserved is never far ahead
-- of the present, so a limit learnt, or a pause begun, applies to every request sent after it.
fleet.HORIZON = 0.5
-- A reserved slot not used this long after its time is dropped (it stays counted).
fleet.SLOT_GRACE = 0.5
-- A process is one of the fleet's members (whose number divides the budget while Redis is down) for this
-- long after its last reservation; the number read from Redis is taken up to MAX_MEMBERS.
fleet.MEMBER_TTL, fleet.MAX_MEMBERS = 10, 1024
-- A pause looked up in Redis this recently is not looked up again before a request goes out.
fleet.FRESH = 0.05
local MAX_PERMITS = 16

-- The budget's arithmetic, a generic cell rate algorithm, in milliseconds. Redis runs it for the fleet
-- (TAKE), and each process runs the same source on its own share while Redis is down. Up to `wanted` slots
-- from `tat` (the budget's next free time), `interval` apart, with a burst of `tolerance`; a slot is given
-- only within `horizon` of `now`. Returns the new tat, the number of slots given and the reply
-- {members, 0 (no pause), interval, given, the delay of the next slot not given, delay_1 .. delay_given}.
local GCRA = [[
local function take(now, tat, interval, tolerance, horizon, wanted, members)
  tat = math.max(tat, now)
  local reply, given = {members, 0, math.ceil(interval), 0, 0}, 0
  while given < wanted and tat - tolerance - now <= horizon do
    given = given + 1
    reply[5 + given] = math.ceil(math.max(0, tat - tolerance - now))
    tat = tat + interval
  end
  reply[4], reply[5] = given, math.ceil(math.max(0, tat - tolerance - now))
  return tat, given, reply
end
]]
local gcra_take = assert((loadstring or load)(GCRA .. "return take"))() -- luacheck: ignore 143

local function whole(v) return type(v) == "number" and v >= 0 and v == math.floor(v) end

-- KEYS: budget hash {tat, interval, limit}, pause, members. ARGV: permits wanted, limit seen (0: unknown),
-- horizon (ms), this process's name, 1 if this process shared a budget before (an empty one then means
-- Redis lost it: the fleet has been spending, so no burst). Returns {members, pause left (ms), interval
-- (ms), slots given, the delay of the next slot (ms from now), the delays of each slot given}.
local TAKE = redis.script(GCRA .. ([[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
redis.call('ZADD', KEYS[3], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - %d)
redis.call('PEXPIRE', KEYS[3], %d)
local members = redis.call('ZCARD', KEYS[3])
local limit = tonumber(ARGV[2])
if limit > 0 then redis.call('HSET', KEYS[1], 'limit', ARGV[2])
else limit = tonumber(redis.call('HGET', KEYS[1], 'limit') or '0') or 0 end
local interval, burst = %d, 1
if limit > 0 then
  interval = %d / (limit * %s)
  burst = math.max(1, math.floor(limit * %s))
end
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return {members, paused, math.ceil(interval), 0, paused} end
local tolerance = (burst - 1) * interval
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '')
local was = tonumber(redis.call('HGET', KEYS[1], 'interval') or '')
if not tat then
  tat = now
  if ARGV[5] == '1' then tat = now + tolerance end
elseif was and was > 0 and tat > now then
  tat = now + (tat - now) * interval / was -- the limit changed: what is reserved is spaced anew at once
end
local given, reply
tat, given, reply = take(now, tat, interval, tolerance, tonumber(ARGV[3]), tonumber(ARGV[1]), members)
if given > 0 or not was or math.abs(interval - was) > 0.001 then
  redis.call('HSET', KEYS[1], 'tat', string.format('%%.3f', tat), 'interval', string.format('%%.6f', interval))
  redis.call('PEXPIRE', KEYS[1], %d)
end
return reply
]]):format(fleet.MEMBER_TTL * 1000, fleet.MEMBER_TTL * 1000, fleet.COLD * 1000, fleet.WINDOW * 1000, fleet.SHARE,
           fleet.BURST, fleet.WINDOW * 2000),
  shape.array(5, 5 + MAX_PERMITS, whole, function(v) return v[4] <= MAX_PERMITS and #v == 5 + v[4] end))

-- KEYS: pause. ARGV: milliseconds from now. The fleet pauses until the latest time any 429 named.
local PAUSE = redis.script([[
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
]], shape.integer)

-- KEYS: token, lock. ARGV: lock owner, expires_at, sealed token, ttl (ms). Stores a new generation and
-- lets go of the lock if it is still this owner's.
local STORE = redis.script([[
local current = redis.call('GET', KEYS[1])
local generation = 1
if current then generation = (tonumber(string.match(current, '^[^\n]*\n(%d+)\n')) or 0) + 1 end
redis.call('SET', KEYS[1], ARGV[2] .. '\n' .. generation .. '\n' .. ARGV[3], 'PX', ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return generation
]], function(v) return whole(v) and v >= 1 end)

-- KEYS: lock. ARGV: owner. Deletes the lock only if it is still this owner's.
local UNLOCK = redis.script([[
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
]], shape.integer)

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

--- A fleet for falcon.Client `client` (its core, renew_window, policy and warn function).
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
    keys = { token = base .. "token", lock = base .. "token:lock", budget = base .. "budget", pause = base .. "pause",
             members = base .. "members" },
    owner = ("%x-%x"):format(math.random(0, 0x3fffffff), math.floor(core.now() * 1e6) % 0x7fffffff),
    generation = nil,   -- of the shared token this process holds
    slots = {},         -- reserved budget slots (local times), oldest first
    paused_until = 0,   -- until when the fleet is paused, as Redis last said
    paused_here = 0,    -- until when a 429 this process saw pauses the fleet
    checked_at = -math.huge, -- when Redis last told this process whether the fleet is paused
    members = 1,        -- processes sharing the budget, as Redis last counted them
    interval = nil,     -- seconds between the fleet's slots, as Redis last said
    shared_before = false, -- this process has reserved from Redis's budget
    told = nil,         -- the limit this process last told Redis
    alone = nil,        -- while Redis is down: the next free time of this process's share (ms)
    asking = nil,       -- {queue, driver} while a task of this process asks for slots
    ask_at = 0,         -- when the next slot comes within the horizon: asking before is a wasted round trip
    down_until = nil,   -- while Redis failed: per-process behaviour until then
    -- counters for the bench and the specs
    stats = { round_trips = 0, token_fetches = 0, alone_fetches = 0, adopted = 0, lost = 0, back = 0, refused = 0 },
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
    self.client:_warn("coordination: " .. err .. "; going on alone (own token, a share of the budget) until it answers")
  end
  self.down_until = d.now() + self.retry_interval
  self.link:close()
end

function fleet:_shared(d) return not self.down_until or d.now() >= self.down_until end

-- One script (redis.script) or, with `script` nil, one command answered in `expect`'s shape; nil after a
-- failure, an error reply or an answer of another shape (then the caller behaves as a lone process).
function fleet:_call(d, script, expect_or_keys, ...)
  self.stats.round_trips = self.stats.round_trips + 1
  local value, err
  if script then value, err = self.link:script(d, script, expect_or_keys, ...)
  else value, err = self.link:call(d, expect_or_keys, ...) end
  if value == nil then
    self:_lost(d, err)
    return nil
  end
  self:_answered()
  return value
end

---------------------------------------------------------------------------------------------- budget

-- The error of a call that gets no slot within `longest`: nothing was sent.
local function refusal(self, what, seconds)
  self.stats.refused = self.stats.refused + 1
  return errors.core_error("rate_limit", ("fleet budget: %s %.1f s from now, past max_retry_wait and the "
    .. "call's timeout; the request was not sent"):format(what, seconds), false)
end

--- Waits for this request's slot in the fleet's budget, and while the fleet is paused, never past
--- `longest` seconds from now (max_retry_wait, and the call's timeout). `ratelimit` is the client's
--- (its limit as last read, and its own pause). A token request (`token` true: one for the fleet, and
--- not the API's budget) takes no slot; it only waits out a pause. Returns the time after the wait, or
--- nil and the error of a call that cannot get a slot in time (kind "rate_limit").
function fleet:take(d, ratelimit, longest, token)
  local deadline, rechecked = d.now() + longest, false
  while true do
    local now = d.now()
    -- A limit read for the first time (or changed) is told to Redis at once, by this task: the slots
    -- reserved, and when to ask again, were reckoned for another.
    local news = ratelimit.limit and ratelimit.limit ~= self.told
    if news then self.slots, self.ask_at = {}, 0 end
    local paused = self:_paused(ratelimit)
    local slot = paused <= now and not token and self:_slot(now)
    if paused > now then
      if paused <= deadline then
        d.sleep(paused - now)
      elseif paused > self.paused_here and paused > (ratelimit.paused_until or 0) and not rechecked
             and self:_shared(d) then
        rechecked = self:_read_pause(d) -- a pause heard from Redis may have been lifted since
      else
        return nil, refusal(self, "the fleet is paused (a 429) until", paused - now)
      end
    elseif token then
      return now
    elseif slot then
      if slot > now then d.sleep(slot - now) end
      if not self:_paused_since(d, ratelimit) then return d.now() end
    elseif self.asking and self.asking.driver == d and not news then
      if not self.asking.queue.wait(deadline) then
        return nil, refusal(self, "the slots another task asks Redis for come later than", longest)
      end
    else
      local ok, err = self:_ask(d, ratelimit.limit, deadline)
      if not ok then return nil, err end
    end
  end
end

-- The next slot reserved, dropping those too late to use.
function fleet:_slot(now)
  local slots = self.slots
  while slots[1] and slots[1] + fleet.SLOT_GRACE < now do table.remove(slots, 1) end
  return table.remove(slots, 1)
end

-- Until when the fleet is paused, as far as this process knows: by a 429 here, by one the client saw (its
-- own pause), or as Redis last said.
function fleet:_paused(ratelimit)
  return math.max(self.paused_until, self.paused_here, ratelimit.paused_until or 0)
end

-- Redis says the fleet is paused for `seconds` from `now` (0: not paused); reserved slots are void.
function fleet:_heard_pause(now, seconds)
  self.paused_until = now + math.max(0, seconds)
  if seconds > 0 then self.slots = {} end
end

-- Asks Redis how long the fleet stays paused; false when Redis failed.
function fleet:_read_pause(d)
  local left = self:_call(d, nil, shape.integer, "PTTL", self.keys.pause)
  if not left then return false end
  self.checked_at = d.now()
  self:_heard_pause(self.checked_at, left / 1000)
  return true
end

-- True when the fleet was paused while this task slept on its slot: by a 429 here, or by another process
-- (asked of Redis before sending, unless this process heard from Redis within FRESH seconds).
function fleet:_paused_since(d, ratelimit)
  local now = d.now()
  if self:_paused(ratelimit) > now then return true end
  if now - self.checked_at <= fleet.FRESH or not self:_shared(d) then return false end
  return self:_read_pause(d) and self:_paused(ratelimit) > d.now()
end

-- This task asks for slots while the other tasks of the process wait for it: one round trip serves
-- them all, and they never ask Redis together. True once slots came or a pause began; nil and the
-- refusal when the next slot is past `deadline`.
function fleet:_ask(d, limit, deadline)
  local asking = { queue = d.queue(), driver = d }
  self.asking = asking
  local ok, done, err = compat.pcall(self._reserve_until, self, d, limit, deadline)
  if self.asking == asking then self.asking = nil end
  asking.queue.release()
  if not ok then error(done, 0) end
  return done, err
end

-- Reserves until slots come. Redis says when its next slot comes within the horizon: nobody of this
-- process asks again before then (plus a jitter over the members' share of the horizon, so that the
-- processes do not all ask at once).
function fleet:_reserve_until(d, limit, deadline)
  while true do
    local now = d.now()
    -- (A next slot past the deadline, as last heard, is asked about again at once: it may have moved.)
    if self.ask_at > now and self.ask_at <= deadline then d.sleep(self.ask_at - now) end
    local reply = self:_reserve(d, limit)
    now = d.now()
    local next_slot = reply[5] / 1000
    self.ask_at = now
    if next_slot > fleet.HORIZON then
      self.ask_at = now + next_slot - fleet.HORIZON
                    + math.random() * math.min(fleet.HORIZON, self.members * reply[3] / 1000)
    end
    if reply[2] > 0 then return true end -- paused: _take noted until when
    for i = 1, reply[4] do self.slots[#self.slots + 1] = now + reply[5 + i] / 1000 end
    if reply[4] > 0 then return true end
    if now + next_slot > deadline then return nil, refusal(self, "the next slot is", next_slot) end
  end
end

-- One reservation, in TAKE's reply shape: from Redis, or from this process's share while Redis is down.
function fleet:_reserve(d, limit)
  limit = untrusted.integer(limit)
  return self:_shared(d) and self:_take(d, self.permits, limit) or self:_reserve_alone(d, limit)
end

-- TAKE: `permits` slots, telling Redis the limit read (`limit`), and what Redis says of the fleet.
function fleet:_take(d, permits, limit)
  local reply = self:_call(d, TAKE, { self.keys.budget, self.keys.pause, self.keys.members }, permits,
                           limit or 0, fleet.HORIZON * 1000, self.owner, self.shared_before and 1 or 0)
  if not reply then return nil end
  self.shared_before, self.alone, self.checked_at, self.told = true, nil, d.now(), limit or self.told
  self.members = math.max(1, math.min(reply[1], fleet.MAX_MEMBERS))
  self.interval = math.max(1, math.min(reply[3], fleet.WINDOW * 1000)) / 1000
  self:_heard_pause(self.checked_at, reply[2] / 1000)
  return reply
end

-- While Redis is down each process spends its fair share of the budget last known (the limit it read,
-- over the members Redis last counted), its slots spaced evenly and the processes' first slots spread
-- over one interval, so that neither tasks nor processes send together.
function fleet:_reserve_alone(d, limit)
  local interval = (limit and limit >= 1 and fleet.WINDOW / (limit * fleet.SHARE) or self.interval or fleet.COLD)
                   * self.members * 1000
  local now = d.now() * 1000
  self.told = limit or self.told
  local _, reply
  self.alone, _, reply = gcra_take(now, self.alone or now + math.random() * interval, interval, 0,
                                       fleet.HORIZON * 1000, self.permits, self.members)
  return reply
end

--- A 429 seen by this process pauses the fleet for `seconds`: its own tasks at once, the others through
--- Redis.
function fleet:pause(d, seconds)
  self.paused_here, self.slots = math.max(self.paused_here, d.now() + seconds), {}
  if self:_shared(d) then self:_call(d, PAUSE, { self.keys.pause }, math.max(1, math.ceil(seconds * 1000))) end
end

----------------------------------------------------------------------------------------------- token

-- The shared token entry {expires_at, generation, sealed}, nil when absent, false when Redis failed.
function fleet:_read(d)
  local value = self:_call(d, nil, shape.string_or_null, "GET", self.keys.token)
  if value == nil then return false end
  if value == redis.null then return nil end
  local expires_at, generation, sealed = value:match("^([^\n]+)\n(%d+)\n(.+)$")
  if not sealed then return nil end
  return { expires_at = untrusted.number(expires_at), generation = untrusted.integer(generation), sealed = sealed }
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
--- While another process renews, this one waits for its token at most LOCK_TTL, and never past
--- max_retry_wait and the call's timeout: then it fetches its own.
function fleet:authenticate(d)
  if not self:_shared(d) then return self:_alone(d) end
  local deadline = d.now() + math.min(fleet.LOCK_TTL, self.client.policy.max_wait)
  local looks = 0
  while true do
    local entry = self:_read(d)
    if entry == false then return self:_alone(d) end
    local status, headers, body, info = self:_adopt(entry, d.now())
    if status then return status, headers, body, info end
    local locked = self:_call(d, nil, shape.ok_or_null, "SET", self.keys.lock, self.owner, "NX", "PX",
                              fleet.LOCK_TTL * 1000)
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
    status, headers, body, info = self:_adopt(entry, d.now(), fleet.ADOPT_MARGIN)
    if status then return status, headers, body, info end
    if d.now() >= deadline then return self:_fetch(d, false) end -- the holder died, or waiting took too long
    looks = looks + 1
    d.sleep(math.min(policy.backoff(fleet.LOOK, fleet.LOOK_MAX, looks, math.random), deadline - d.now()))
  end
end

function fleet:close() self.link:close() end

return fleet
