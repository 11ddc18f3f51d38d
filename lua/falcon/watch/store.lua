--- Where a case watch (falcon.CaseWatch) keeps its memory: one text (falcon.watch.state's), replaced
-- whole at every acknowledgement.
-- A store is { load() -> text | nil (nothing saved yet) | nil, err;  save(text) -> true | nil, err }:
--   "path"                                      a file, replaced by an atomic rename (falcon.checkpoint)
--   store.shared_dict(ngx.shared.X, key)        inside nginx: shared by the workers, lost with nginx
--   { load = function() ... end, save = function(text) ... end }   your own
--   nil                                         memory only
-- With `coordination` (Redis), store.leased: the memory lives in Redis under the watch's lease
-- (falcon.fleet.lease), and only the holder of the lease, with its fence, can write it.
local checkpoint = require "falcon.streams.checkpoint"
local compat = require "falcon.base.compat"
local errors = require "falcon.base.errors"
local lease = require "falcon.fleet.lease"
local leases = require "falcon.streams.leases"

local M = {}

--- The largest memory a watch keeps (its text, falcon.watch.state's): max_cases cases of a few
--- hundred bytes each fit many times over. A store's text is input: a larger one is not the watch's, and
--- a larger memory is never saved where it could not be read back.
M.MAX_BYTES = 32 * 1024 * 1024

local function bad(name, expected, got)
  errors.bad_option("CaseWatch", name, ("%s expected, got %s"):format(expected, tostring(got)))
end

--- A file path: read whole, replaced whole.
function M.file(path)
  return {
    path = path,
    load = function() return checkpoint.read_file(path, M.MAX_BYTES) end,
    save = function(text)
      if #text > M.MAX_BYTES then return nil, "the watch's memory is larger than " .. M.MAX_BYTES .. " bytes" end
      return checkpoint.replace_file(path, text)
    end,
  }
end

--- An ngx.shared dict's key (seen by every worker of one nginx).
function M.shared_dict(dict, key)
  if type(dict) ~= "table" and type(dict) ~= "userdata" then bad("dict", "ngx.shared.DICT", type(dict)) end
  if type(key) ~= "string" or key == "" then bad("key", "string", type(key)) end
  return {
    load = function() return dict:get(key) end,
    save = function(text)
      local ok, err = dict:set(key, text)
      if not ok then return nil, "cannot save the checkpoint in the shared dict: " .. tostring(err) end
      return true
    end,
  }
end

--- What the `checkpoint` option may be: a path, a {load, save} store, or nil (memory only).
function M.from(value)
  if value == nil then
    local text
    return { load = function() return text end, save = function(t) text = t return true end }
  end
  if type(value) == "string" and value ~= "" then return M.file(value) end
  if type(value) == "table" and type(value.load) == "function" and type(value.save) == "function" then return value end
  bad("checkpoint", "file path, {load, save} or falcon.case_watch_store.shared_dict(...)", type(value))
end

-- ---- Redis: one watch per name in a fleet ------------------------------------------------------------

local KEY = "cases" -- the one "partition" a watch's lease covers

local Leased = {}
Leased.__index = Leased

--- The memory of watch `name` in Redis, under its lease; `opts`: {ttl = seconds (5), owner = name}.
function M.leased(coordination, name, opts)
  local ttl, owner = leases.options("CaseWatch", opts)
  local self = setmetatable({ leases = lease.new(coordination, name, "casewatch", M.MAX_BYTES), ttl = ttl, owner = owner,
                              next_at = 0, stats = { acquired = 0, lost = 0 } }, Leased)
  self.load = function() return self:_load() end
  self.save = function(text) return self:_save(text) end
  return self
end

--- Takes or renews the lease when due (`next_at`); returns whether it is held, and true when it was
--- taken just now (the memory must then be read from Redis again: another holder may have moved it).
function Leased:hold(now)
  local held = self.held
  if held and now >= held.valid_until then self:drop() held = nil end
  if now < self.next_at then return held ~= nil, false end
  if held then
    local renewed, err = self.leases:renew(KEY, self.owner, held.fence, self.ttl)
    if renewed then
      held.valid_until, self.next_at = renewed.valid_until, now + self.ttl / 3
    elseif err == "lost" then
      self:drop()
    else -- Redis failing: try again soon; once valid_until passes, the lease is given up
      self.next_at = now + math.min(0.2, self.ttl / 10)
    end
    return self.held ~= nil, false
  end
  local got, err, wait = self.leases:acquire(KEY, self.owner, self.ttl)
  if not got then
    wait = err == "held" and tonumber(wait) or self.ttl / 3
    self.next_at = now + math.max(0.02, math.min(wait, self.ttl / 3)) * (0.75 + 0.25 * math.random())
    return false, false
  end
  self.held, self.next_at = got, now + self.ttl / 3
  self.stats.acquired = self.stats.acquired + 1
  return true, true
end

--- Forgets the lease held (it expires in Redis by itself; a successor then takes it). It is tried again
--- at once, or `retry_at` (after a Redis failure).
function Leased:drop(retry_at)
  if self.held then self.stats.lost = self.stats.lost + 1 end
  self.held, self.next_at = nil, retry_at or 0
end

function Leased:_load()
  local text, err = self.leases:checkpoint_of(KEY)
  if text == nil and err then return nil, err end
  return text
end

function Leased:_save(text)
  local held = self.held
  if not held then return nil, "lost" end
  return self.leases:checkpoint(KEY, self.owner, held.fence, text)
end

--- Gives the lease up, so that a standby takes over at once (best effort).
function Leased:release()
  local held = self.held
  self.held = nil
  if held then compat.pcall(self.leases.release, self.leases, KEY, self.owner, held.fence) end
  self.leases:close()
end

return M
