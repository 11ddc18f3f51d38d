--- The partitions an Event Streams consumer holds when several consumers share one app id: falcon.EventStream's
-- `coordination = {...}` option. Each partition is read only under its lease (falcon.fleet.lease on Redis):
-- * taken when free, renewed every third of its ttl while held; the owner's checkpoint is in Redis, written
--   with the lease's fence, so the next owner (this process later, or another one) resumes after it;
-- * a consumer that cannot renew before its lease runs out (Redis down or slow, the lease taken over after
--   a pause) stops reading the partition and drops what it decoded from it, then tries to take it again;
-- * an event handed out whose checkpoint could not be written is the one a next owner delivers again.
-- A consumer takes every free partition (no balancing): a second consumer is a standby that takes over
-- within a ttl of the owner dying, or at once when the owner stops cleanly (stop() releases).
local compat = require "falcon.base.compat"
local core = require "falcon.core"
local errors = require "falcon.base.errors"
local lease = require "falcon.fleet.lease"
local options = require "falcon.base.options"

local StreamLeases = {}
StreamLeases.__index = StreamLeases

--- The `lease` option of a consumer (`where` names it in errors): {ttl = seconds (5), owner = name (a
--- random one)}. Returns ttl, owner. (falcon.CaseWatch takes the same option.)
function StreamLeases.options(where, opts)
  local function bad(name, expected, got)
    errors.bad_option(where, name, ("%s expected, got %s"):format(expected, tostring(got)))
  end
  if opts ~= nil and type(opts) ~= "table" then bad("lease", "{ttl = seconds, owner = name}", type(opts)) end
  opts = options.check_keys(where, opts, { ttl = true, owner = true }, "lease.")
  local ttl = opts.ttl or 5
  if type(ttl) ~= "number" or ttl ~= ttl or ttl < 0.2 or ttl > 300 then bad("lease.ttl", "seconds in [0.2, 300]", ttl) end
  local owner = opts.owner or ("%x-%x"):format(math.random(0, 0x3fffffff), math.floor(core.now() * 1e6) % 0x7fffffff)
  if type(owner) ~= "string" or owner == "" or #owner > 200 or owner:find("%c") then
    bad("lease.owner", "a name without control characters", owner)
  end
  return ttl, owner
end

--- Leases of app `app_id` on the Redis `coordination` names; `opts`: {ttl = seconds (5), owner = name}.
function StreamLeases.new(coordination, app_id, opts)
  local ttl, owner = StreamLeases.options("EventStream", opts)
  return setmetatable({
    leases = lease.new(coordination, app_id), ttl = ttl, owner = owner,
    held = {}, -- partition -> {fence, valid_until, renew_at}: replaced (never reused) on every acquisition
    unsaved = {}, -- partition -> {fence, offset}: an event handed out whose checkpoint could not be written
    stats = { acquired = 0, lost = 0, unsaved = 0 },
    changed = nil, -- the stream's queue of changes (falcon.EventStream sets it when it starts)
  }, StreamLeases)
end

--- True while `held` is still partition p's lease here and has not run out.
function StreamLeases:valid(p, held, now)
  return held ~= nil and self.held[p] == held and now < held.valid_until
end

-- Tells the stream's tasks that waited for a lease (its refreshes) that one was taken or lost.
function StreamLeases:_changed()
  if self.changed then self.changed.release() end
end

function StreamLeases:_drop(p)
  if self.held[p] then self.stats.lost = self.stats.lost + 1 end
  self.held[p] = nil
  self:_changed()
end

--- Task: holds partition p whenever it can, for `stream` (its _nap waits for a time, or for stop()).
--- `on_acquired(held, offset)` starts reading from the Redis checkpoint (offset nil: none yet); reading
--- stops by itself once `held` is no longer valid.
function StreamLeases:task(stream, p, on_acquired)
  local ttl, now_of = self.ttl, stream.driver.now
  while not stream:_ended() do
    local held, now = self.held[p], now_of()
    if held and now < held.valid_until then
      if now < held.renew_at then
        stream:_nap(held.renew_at - now)
      else
        local renewed, err = self.leases:renew(p, self.owner, held.fence, ttl)
        if renewed then
          held.valid_until, held.renew_at = renewed.valid_until, now_of() + ttl / 3
        elseif err == "lost" then
          self:_drop(p)
        else -- Redis failing: try again soon; past valid_until the partition is given up
          held.renew_at = now_of() + math.min(0.2, ttl / 10)
        end
      end
    else
      if held then self:_drop(p) end
      local got, err, wait = self.leases:acquire(p, self.owner, ttl)
      local offset, read_err
      if got then offset, read_err = self.leases:checkpoint_of(p) end
      if got and (offset ~= nil or not read_err) then
        offset = self:_catch_up(p, got, tonumber(offset))
        got.renew_at = now_of() + ttl / 3
        self.held[p] = got
        self.stats.acquired = self.stats.acquired + 1
        on_acquired(got, offset)
        self:_changed()
      else
        -- held by another (wait: until it expires) or Redis failing: look again within a third of the ttl
        wait = err == "held" and tonumber(wait) or ttl / 3
        stream:_nap(math.max(0.02, math.min(wait, ttl / 3)) * (0.75 + 0.25 * math.random()))
      end
    end
  end
end

-- The same fence again means Redis kept this process's lease all along (Redis was unreachable, not
-- replaced): nobody else read the partition. No checkpoint at all means Redis lost its data (fences never
-- repeat, so the fence cannot tell): nobody's progress is recorded but this process's. Either way the
-- event handed out before is written as done, not delivered again. Returns where reading resumes.
function StreamLeases:_catch_up(p, got, offset)
  local mine = self.unsaved[p]
  if not mine then return offset end
  if mine.fence ~= got.fence and offset ~= nil then self.unsaved[p] = nil return offset end
  if offset and offset >= mine.offset then self.unsaved[p] = nil return offset end
  if self.leases:checkpoint(p, self.owner, got.fence, mine.offset) then
    self.unsaved[p] = nil
    return mine.offset
  end
  return offset
end

--- Writes the checkpoint of an event handed out under `item.held`; false when it could not be (the
--- partition is then given up here, and read again from the last checkpoint written).
function StreamLeases:ack(item)
  local p, held = item.partition, item.held
  local ok = self.held[p] == held and self.leases:checkpoint(p, self.owner, held.fence, item.offset)
  if ok then return true end
  self.stats.unsaved = self.stats.unsaved + 1
  if held then self.unsaved[p] = { fence = held.fence, offset = item.offset } end
  if self.held[p] == held then self:_drop(p) end
  return false
end

--- Lets every lease go (best effort: an unreachable Redis lets them expire).
function StreamLeases:release_all()
  for p, held in pairs(self.held) do compat.pcall(self.leases.release, self.leases, p, self.owner, held.fence) end
  self.held = {}
  self.leases:close()
end

return StreamLeases
