--- Stream leases and checkpoints on Redis, for an Event Streams consumer run by several machines: one owner
-- per (app id, partition) at a time, and checkpoints only that owner can write.
--   local leases = lease.new({ redis = "redis://127.0.0.1:6379/0" }, "my-app-id")
--   local held, err = leases:acquire(partition, owner, 15)  -- {fence, valid_until} | nil, "held"|message
--   leases:renew(partition, owner, held.fence, 15)          -- {fence, valid_until} | nil, "lost"|message
--   leases:checkpoint(partition, owner, held.fence, offset) -- true | nil, "lost"|message
--   leases:checkpoint_of(partition)                         -- offset, fence | nil (none) | nil, message
--   leases:release(partition, owner, held.fence)
-- Every acquisition draws a new fencing value, above every one drawn before: one more than the last, and
-- never below Redis's clock in milliseconds, so a Redis that lost its data (and the last fence with it)
-- still draws fences above those its owners hold (as long as its clock does not go back by more than the
-- time it was away). Thirteen digits: tostring() writes them whole under every VM. A checkpoint is
-- written only while the lease still names this owner and this fence, checked and written in one Redis
-- script: an owner that paused past its lease (and was replaced) cannot write over its successor's
-- progress.
-- `valid_until` is local time, counted from before the request was sent: past it, the owner cannot prove
-- it holds the lease and must stop reading the partition. A Redis failure, or an answer not of the shape
-- asked, is (nil, message, "network"), never a lease.
local driver = require "falcon.drivers"
local errors = require "falcon.base.errors"
local fleet = require "falcon.fleet"
local redis = require "falcon.fleet.redis"
local resp = require "falcon.fleet.resp"

local lease = {}
lease.__index = lease

local shape = redis.shape

-- Fences are whole numbers below 2^53 (exact under every VM).
local MAX_FENCE = 9007199254740991
local function whole(v) return type(v) == "number" and v >= 0 and v == math.floor(v) and v <= MAX_FENCE end

-- KEYS: lease, fence. ARGV: owner, ttl (ms). Returns {fence, ttl} or {0, ms until it expires}.
local ACQUIRE = redis.script([[
local held = redis.call('GET', KEYS[1])
if held then
  local owner, fence = string.match(held, '^(.*)\n(%d+)$')
  if owner ~= ARGV[1] then return {0, math.max(0, redis.call('PTTL', KEYS[1]))} end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {tonumber(fence), tonumber(ARGV[2])}
end
local t = redis.call('TIME')
local fence = math.max((tonumber(redis.call('GET', KEYS[2]) or '0') or 0) + 1,
                       tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
fence = string.format('%.0f', fence)
redis.call('SET', KEYS[2], fence)
redis.call('SET', KEYS[1], ARGV[1] .. '\n' .. fence, 'PX', ARGV[2])
return {tonumber(fence), tonumber(ARGV[2])}
]], shape.array(2, 2, whole, function(v) return v[1] == 0 or v[2] >= 1 end))

-- KEYS: lease. ARGV: owner, fence, ttl (ms). 1 when renewed, 0 when the lease is another's (or gone).
local RENEW = redis.script([[
if redis.call('GET', KEYS[1]) ~= ARGV[1] .. '\n' .. ARGV[2] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[3])
]], shape.integer)

-- KEYS: lease. ARGV: owner, fence.
local RELEASE = redis.script([[
if redis.call('GET', KEYS[1]) ~= ARGV[1] .. '\n' .. ARGV[2] then return 0 end
return redis.call('DEL', KEYS[1])
]], shape.integer)

-- KEYS: lease, checkpoint. ARGV: owner, fence, offset. Written only under the lease named.
local CHECKPOINT = redis.script([[
if redis.call('GET', KEYS[1]) ~= ARGV[1] .. '\n' .. ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], 'offset', ARGV[3], 'fence', ARGV[2])
return 1
]], shape.integer)

local CHECKPOINT_OF = shape.array(2, 2, shape.string_or_null)

local function check_name(what, value)
  if type(value) ~= "string" or value == "" or #value > 256 or value:find("[%c]") then
    errors.bad_argument("lease", what, ("non-empty string without control characters expected, got %s")
      :format(type(value) == "string" and ("'" .. value:sub(1, 40) .. "'") or type(value)))
  end
end

local function check_seconds(ttl)
  if type(ttl) ~= "number" or ttl ~= ttl or ttl < 0.01 or ttl > 86400 then
    errors.bad_argument("lease", "ttl", "seconds in [0.01, 86400] expected, got " .. tostring(ttl))
  end
  return math.ceil(ttl * 1000)
end

local function check_fence(fence)
  if not whole(fence) or fence < 1 then
    errors.bad_argument("lease", "fence", "the fence acquire returned expected, got " .. tostring(fence))
  end
end

--- Leases of app `app_id` on the Redis a coordination table names (see falcon.fleet). `kind` names what
--- is leased, in the keys (default "stream"; falcon.CaseWatch's are "casewatch"); `max_checkpoint` the
--- longest checkpoint it writes and reads back (default: an offset's few bytes, falcon.fleet.resp's MAX_BULK).
function lease.new(coordination, app_id, kind, max_checkpoint)
  if type(coordination) ~= "table" then
    errors.bad_argument("lease", "coordination", "table expected, got " .. type(coordination))
  end
  check_name("app_id", app_id)
  local settings, own = fleet.check(coordination)
  return setmetatable({ link = redis.link(settings, max_checkpoint), max_checkpoint = max_checkpoint,
                        base = own.prefix .. ":{" .. (kind or "stream") .. ":" .. app_id .. "}:" }, lease)
end

function lease:_keys(partition, ...)
  if type(partition) ~= "number" and type(partition) ~= "string" then
    errors.bad_argument("lease", "partition", "number or string expected, got " .. type(partition))
  end
  local keys = {}
  for i, kind in ipairs({ ... }) do keys[i] = self.base .. kind .. ":" .. partition end
  return keys
end

function lease:_script(source, keys, ...)
  return self.link:script(driver.current(), source, keys, ...)
end

--- Takes the partition's lease for `ttl` seconds (or extends it, if `owner` holds it already).
function lease:acquire(partition, owner, ttl)
  check_name("owner", owner)
  local ms = check_seconds(ttl)
  local keys = self:_keys(partition, "lease", "fence")
  local sent = driver.current().now()
  local reply, err, kind = self:_script(ACQUIRE, keys, owner, ms)
  if not reply then return nil, err, kind end
  if reply[1] == 0 then return nil, "held", reply[2] / 1000 end
  return { fence = reply[1], valid_until = sent + ms / 1000 }
end

--- Extends the lease `fence` names; nil, "lost" when it expired or another owner holds it now.
function lease:renew(partition, owner, fence, ttl)
  check_name("owner", owner)
  check_fence(fence)
  local ms = check_seconds(ttl)
  local sent = driver.current().now()
  local reply, err, kind = self:_script(RENEW, self:_keys(partition, "lease"), owner, fence, ms)
  if not reply then return nil, err, kind end
  if reply ~= 1 then return nil, "lost" end
  return { fence = fence, valid_until = sent + ms / 1000 }
end

--- Gives the lease up (a no-op when it is no longer this owner's).
function lease:release(partition, owner, fence)
  check_name("owner", owner)
  check_fence(fence)
  local reply, err, kind = self:_script(RELEASE, self:_keys(partition, "lease"), owner, fence)
  if not reply then return nil, err, kind end
  return reply == 1
end

--- Records `offset` for the partition, only while `owner` holds the lease `fence` names.
function lease:checkpoint(partition, owner, fence, offset)
  check_name("owner", owner)
  check_fence(fence)
  if type(offset) ~= "number" and type(offset) ~= "string" then
    errors.bad_argument("lease", "offset", "number or string expected, got " .. type(offset))
  end
  -- Never written when it could not be read back (falcon.fleet.resp bounds every value read).
  if #tostring(offset) > (self.max_checkpoint or resp.MAX_BULK) then return nil, "checkpoint too large", "reply" end
  local reply, err, kind = self:_script(CHECKPOINT, self:_keys(partition, "lease", "checkpoint"), owner, fence,
                                        offset)
  if not reply then return nil, err, kind end
  if reply ~= 1 then return nil, "lost" end
  return true
end

--- The partition's last checkpoint: offset (a string, as written) and the fence that wrote it; nil when none.
function lease:checkpoint_of(partition)
  local reply, err, kind = self.link:call(driver.current(), CHECKPOINT_OF, "HMGET",
                                          self:_keys(partition, "checkpoint")[1], "offset", "fence")
  if not reply then return nil, err, kind end
  if reply[1] == redis.null then return nil end
  local fence = reply[2] ~= redis.null and #reply[2] <= 16 and reply[2]:find("^%d+$") and tonumber(reply[2])
  return reply[1], fence and whole(fence) and fence or nil
end

function lease:close() self.link:close() end

return lease
