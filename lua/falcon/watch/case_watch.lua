--- falcon.CaseWatch: Message Center cases followed by polling, every change handed over once, in order
-- per case, across restarts.
--   local watch = mc:watch { filter = "case.status:!'closed'", checkpoint = "cases.ckpt" }
--   for change in watch:changes() do ... end   -- the change before is acknowledged when the loop goes on
--   watch:run(function(change) ... end)        -- the same, as a callback
--   watch:stop()
-- Changes: case_created, case_seen (a case the watch had no memory of: it entered the filter, or was
-- forgotten), case_updated (with `changed`: field -> {from, to}), activity_added, activity_edited,
-- attachment_added. Each carries case_id, at (the server's timestamp) and case.
--
-- One loop: the application asks for a change; when none is queued, the watch polls (falcon.watch.poll)
-- if the interval has passed, else waits on the driver until it has (inside nginx a semaphore wait, under
-- falcon.parallel a yield; stop() ends the wait). Memory (falcon.watch.state) moves only when a change is
-- acknowledged, and is saved then (falcon.watch.store): a process killed at any point hands over
-- again only the change it had handed out and not acknowledged. A failed poll (429, 5xx, a cut, after the
-- client's own retries) is tried again after a backoff with jitter; a refusal for good (credentials,
-- scope, a filter the API refuses, an answer that is not one) ends the loop with an error saying which.
-- With `coordination` (the client's, or given), the watch polls only while it holds its lease in Redis,
-- and its memory is written there with the lease's fence: in a fleet one watcher polls, and another takes
-- over within a lease's ttl of its end.
local compat = require "falcon.base.compat"
local driver = require "falcon.drivers"
local errors = require "falcon.base.errors"
local options = require "falcon.base.options"
local Poll = require "falcon.watch.poll"
local policy = require "falcon.base.policy"
local State = require "falcon.watch.state"
local store = require "falcon.watch.store"
local untrusted = require "falcon.base.untrusted"

local CaseWatch = {}
CaseWatch.__index = CaseWatch

local OPTIONS = {
  client = true, filter = true, interval = true, checkpoint = true, idle_timeout = true, deadline = true,
  since = true, batch = true, settle = true, sweep = true, backoff = true, coordination = true, lease = true,
  name = true, max_cases = true,
}
CaseWatch.OPTIONS = OPTIONS

CaseWatch.DEFAULT_INTERVAL = 30
CaseWatch.MIN_INTERVAL = 5          -- against the Falcon cloud
CaseWatch.MIN_INTERVAL_LOCAL = 0.05 -- against a server on this machine (the emulator, a test server)

local LOST = {} -- raised inside a poll when the lease is gone

local function bad(name, expected, got)
  errors.bad_option("CaseWatch", name, ("%s expected, got %s"):format(expected, tostring(got)))
end

local function seconds(opts, name, default, min)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v or v < min or v == math.huge then bad(name, ("seconds >= %s"):format(min), v) end
  return v
end

local function engine_of(client)
  local engine = type(client) == "table" and (rawget(client, "_client") or client)
  if not engine or type(engine.request) ~= "function" then
    bad("client", "MessageCenter, Uber or falcon.Client object", type(client))
  end
  return engine
end

local function is_local(url)
  local host = tostring(url):match("^%a+://%[?([^/%]]+)")
  return host == "localhost" or host == "::1" or (host or ""):match("^127%.%d+%.%d+%.%d+") ~= nil
end

local function since_of(value)
  if value == nil or value == "now" then return nil end
  if value == "all" then return -1 end
  local t = untrusted.timestamp(value)
  if not t then bad("since", "'now', 'all' or an ISO 8601 time such as 2026-01-31T00:00:00Z", value) end
  return math.floor(t)
end

-- The loop's timing options.
local function timing(self, opts, engine)
  local floor = is_local(engine:base_url()) and CaseWatch.MIN_INTERVAL_LOCAL or CaseWatch.MIN_INTERVAL
  self.interval = seconds(opts, "interval", CaseWatch.DEFAULT_INTERVAL, floor)
  self.settle = seconds(opts, "settle", 5, 1)
  self.idle_timeout = seconds(opts, "idle_timeout", nil, 0)
  self.deadline = seconds(opts, "deadline", nil, 0)
  if opts.sweep == false then self.sweep = nil else self.sweep = seconds(opts, "sweep", 3600, self.interval) end
  if opts.backoff ~= nil and type(opts.backoff) ~= "table" then bad("backoff", "{initial = s, max = s}", opts.backoff) end
  local backoff = options.check_keys("CaseWatch", opts.backoff, { initial = true, max = true }, "backoff.")
  self.backoff_initial = seconds(backoff, "initial", 1, 0.01)
  self.backoff_max = seconds(backoff, "max", 60, self.backoff_initial)
end

-- Where memory is kept: Redis under a lease with coordination, else the `checkpoint` option.
local function storage(self, opts, engine)
  local coordination = opts.coordination or (engine.fleet and engine.fleet.conf)
  if coordination then
    if opts.checkpoint ~= nil then bad("checkpoint", "none with coordination (memory is kept in Redis)", "one") end
    self.lease = store.leased(coordination, self.name, opts.lease)
    self.store = self.lease
  else
    if opts.lease ~= nil then bad("lease", "no lease without coordination", type(opts.lease)) end
    self.store = store.from(opts.checkpoint)
  end
end

--- Makes a watch (nothing is sent until the first change is asked for). Options: client (a
--- MessageCenter, Uber or falcon.Client object), filter (FQL), interval (seconds between polls: 30,
--- at least 5), checkpoint, since ("now", "all" or an ISO time), idle_timeout, deadline, batch (ids per
--- request, 500), settle (5 s), sweep (seconds between looks at every case's activities: 3600; false:
--- none), backoff {initial, max}, coordination, lease {ttl, owner}, name, max_cases.
function CaseWatch.new(opts)
  if type(opts) ~= "table" then bad("options", "table", type(opts)) end
  options.check_keys("CaseWatch", opts, OPTIONS)
  local engine = engine_of(opts.client)
  local self = setmetatable({ engine = engine, queue = {}, first = 1, random = math.random }, CaseWatch)
  -- Required here, not above: falcon.classes.service requires this module (mc:watch), a cycle.
  self.mc = require("falcon.classes.service").class("MessageCenter") { auth_object = engine }
  if opts.filter ~= nil and (type(opts.filter) ~= "string" or opts.filter == "" or #opts.filter > 4000) then
    bad("filter", "a non-empty FQL string", type(opts.filter))
  end
  self.filter, self.since = opts.filter, since_of(opts.since)
  self.name = opts.name or "casewatch"
  if type(self.name) ~= "string" or not self.name:match("^[%w_.-]+$") or #self.name > 64 then
    bad("name", "1-64 letters, digits, '_', '.' or '-'", self.name)
  end
  self.batch = opts.batch or 500
  if type(self.batch) ~= "number" or self.batch < 1 or self.batch > 500 or self.batch ~= math.floor(self.batch) then
    bad("batch", "an integer 1..500", opts.batch)
  end
  self.max_cases = opts.max_cases or 10000
  if type(self.max_cases) ~= "number" or self.max_cases < 1 then bad("max_cases", "a count >= 1", opts.max_cases) end
  timing(self, opts, engine)
  storage(self, opts, engine)
  --- Counters: polls, sweeps, requests, changes handed out, acknowledged, failures (polls that failed),
  --- paged (polls past one page), relisted (pages read again: a case left the filter meanwhile),
  --- unsaved (acknowledgements Redis did not take).
  self.stats = { polls = 0, sweeps = 0, requests = 0, changes = 0, acknowledged = 0, failures = 0, paged = 0,
                 relisted = 0, unsaved = 0 }
  return self
end

--- `obj:watch{...}` (MessageCenter) and `uber:watch_cases{...}`: a watch on that object's client.
function CaseWatch.with_client(obj, opts, method)
  if type(obj) ~= "table" or rawget(obj, "_client") == nil then
    errors.raise(method, "call it as a method, with a colon: obj:%s{...}", method)
  end
  if opts ~= nil and type(opts) ~= "table" then bad("options", "table", type(opts)) end
  if opts and opts.client ~= nil then bad("client", "none (the watch uses this object's client)", "one") end
  local with = {}
  for k, v in pairs(opts or {}) do with[k] = v end
  with.client = obj
  return CaseWatch.new(with)
end

-- ---- calls ----------------------------------------------------------------------------------------

--- One Message Center call of a poll: the answer, or raises (LOST, or {response}) for the poll to sort out.
function CaseWatch:_call(operation, args, lookup)
  if self.lease and not self:_keep(driver.current().now()) then error(LOST, 0) end
  if self.stopped then error(LOST, 0) end
  self.stats.requests = self.stats.requests + 1
  local response = self.mc[operation](self.mc, args)
  local status, body = response.status_code, response.body
  if response.transport_error == nil and (status == 200
      or lookup and status == 404 and type(body) == "table" and type(body.resources) == "table") then
    return response
  end
  error({ response = response }, 0)
end

local function api_message(response)
  local body = response.body
  local first = type(body) == "table" and type(body.errors) == "table" and body.errors[1]
  if type(first) == "table" and first.message then return untrusted.printable(tostring(first.message)) end
  if response.transport_error then return tostring(response.transport_error.message) end
  return "HTTP " .. tostring(response.status_code)
end

local REFUSED = { [400] = "the API refused the query (is the filter valid FQL on case fields?)",
                  [403] = "the API client lacks the Message Center read scope (message-center:read)" }

-- What a failed poll means: "lost" (the lease), "fatal", why, or "again", why.
local function failure_of(err)
  if err == LOST then return "lost" end
  if type(err) == "table" and err.bad_answer then return "fatal", err.bad_answer end
  if type(err) ~= "table" or not err.response then error(err, 0) end -- a bug: raised as it is
  local response = err.response
  if response.token_error and not response.transport_error then
    return "fatal", "the credentials were refused: " .. api_message(response)
  end
  local refused = not response.transport_error and REFUSED[response.status_code]
  if refused then return "fatal", ("%s: %s"):format(refused, api_message(response)) end
  return "again", api_message(response)
end

-- ---- memory and the lease -------------------------------------------------------------------------

-- Memory from the store, or a new one; nil, why when the store cannot be read.
function CaseWatch:_load()
  local text, err = self.store.load()
  if text == nil and err then return nil, err end
  -- None yet (an empty file is not one a watch wrote: it writes whole texts, by rename).
  if text == nil or text == "" then return State.new(self.filter, self.since, self.max_cases) end
  if type(text) ~= "string" then return nil, "the checkpoint store's load() gave a " .. type(text) end
  return State.decode(text, self.filter, self.max_cases)
end

function CaseWatch:_save()
  return self.store.save(self.state:encode())
end

-- Everything that depended on the lease goes: queued changes (the next holder hands them over) and
-- memory (read again from Redis once the lease is held again).
function CaseWatch:_forget()
  self.queue, self.first, self.pending_commit, self.state = {}, 1, nil, nil
end

-- True while the lease is held (renewed when due). A lease taken anew reads memory again.
function CaseWatch:_keep(now)
  local held, fresh = self.lease:hold(now)
  if fresh or not held then self:_forget() end
  return held
end

-- ---- the loop -------------------------------------------------------------------------------------

function CaseWatch:_backoff(failures)
  return policy.backoff(self.backoff_initial, self.backoff_max, failures, self.random)
end

-- The first poll of a new watch: "now" is the second before the server's (a change made from now on is
-- stamped later than it; one stamped earlier was made before the watch began).
function CaseWatch:_begin()
  local probe = self:_call("query_cases", { filter = self.filter, limit = 1 })
  local now = Poll.server_time(probe) - 1
  self.state.w, self.state.w0 = now, now
  return { changes = {} }
end

-- One poll (or sweep): its changes, the watermark it reaches and each case's settled second.
function CaseWatch:_gather(sweep)
  local state = self.state
  if state.w == nil then return self:_begin() end
  local ids, w
  if sweep then ids = Poll.all_ids(self, state) else ids, w = Poll.changed_ids(self, state) end
  local changes, settled = Poll.changes(self, state, ids, sweep)
  return { changes = changes, w = w, settled = settled }
end

function CaseWatch:_poll(now)
  if self.sweep and not self.next_sweep then self.next_sweep = now + self.sweep end
  local sweep = self.sweep ~= nil and self.state.w ~= nil and now >= self.next_sweep
  local ok, result = compat.pcall(self._gather, self, sweep)
  local d = driver.current()
  if ok then
    self.failures = 0
    self.stats.polls = self.stats.polls + 1
    if sweep then self.stats.sweeps, self.next_sweep = self.stats.sweeps + 1, now + self.sweep end
    self.queue, self.first = result.changes, 1
    self.pending_commit = result
    self.next_poll = now + self.interval * (0.9 + 0.1 * self.random())
    return
  end
  local kind, why = failure_of(result)
  if kind == "lost" then return end
  if kind == "fatal" then self.failure = errors.message("CaseWatch", "%s", why) return end
  self.failures = (self.failures or 0) + 1
  self.stats.failures = self.stats.failures + 1
  self.last_error = why
  self.next_poll = d.now() + self:_backoff(self.failures)
end

-- A poll's changes are all acknowledged: its watermarks hold, and are saved.
function CaseWatch:_commit()
  local done = self.pending_commit
  if not done or self.first <= #self.queue then return end
  self.pending_commit = nil
  self.state:commit(done.w, done.settled)
  local ok, err = self:_save()
  if not ok then self:_unsaved(err) end
end

function CaseWatch:_unsaved(err)
  if self.lease then
    self.stats.unsaved = self.stats.unsaved + 1
    self.lease:drop()
    return self:_forget()
  end
  errors.raise("CaseWatch", "the checkpoint was not saved: %s", tostring(err))
end

-- One step when nothing is queued: the lease, memory, and the poll when it is due.
function CaseWatch:_turn(now)
  if self.lease and not self:_keep(now) then return end
  if not self.state then
    local state, err = self:_load()
    if not state then
      if not self.lease then errors.raise("CaseWatch", "%s", tostring(err)) end
      return self.lease:drop(now + self.lease.ttl / 3) -- Redis failing: the lease is tried again soon
    end
    self.state = state
  end
  if now >= (self.next_poll or 0) then self:_poll(now) end
end

-- Seconds to sleep before the next step; nil once the deadline or the idle timeout has passed.
function CaseWatch:_pause(now)
  if self.deadline and now >= self.started + self.deadline then return nil end
  if self.idle_timeout and now >= self.last_change + self.idle_timeout then return nil end
  local at = self.next_poll or 0
  if self.lease then -- renewals are due while it is held; attempts to take it while it is not
    at = self.lease.held and math.min(at, self.lease.next_at) or self.lease.next_at
  end
  if self.deadline then at = math.min(at, self.started + self.deadline) end
  if self.idle_timeout then at = math.min(at, self.last_change + self.idle_timeout) end
  return math.max(0, at - now)
end

-- Waits on the driver's queue until the next step: stop() from another task (inside nginx the runner's
-- lease renewer, or a worker told to exit) ends the wait at once.
function CaseWatch:_sleep(d, wait)
  if not self.wake then
    self.wake = d.queue()
    if d.on_exit then d.on_exit(self, CaseWatch.stop) end
  end
  self.wake.wait(d.now() + wait)
end

-- The next change, waiting for one; nil once stopped or past the deadline or idle timeout.
function CaseWatch:_take()
  local d = driver.current()
  self.started = self.started or d.now()
  self.last_change = self.last_change or self.started
  while not self.stopped do
    if self.failure then
      local failure = self.failure
      self:stop()
      error(failure, 0)
    end
    local change = self.queue[self.first]
    if change and (not self.lease or self:_keep(d.now())) then
      self.queue[self.first], self.first = nil, self.first + 1
      self.stats.changes = self.stats.changes + 1
      self.last_change = d.now()
      return change
    end
    if not change then self:_commit() end
    local now = d.now()
    local wait = self:_pause(now)
    if wait == nil then return nil end
    if wait > 0 then self:_sleep(d, wait) else self:_turn(now) end
  end
  return nil
end

-- ---- the application's side -----------------------------------------------------------------------

--- Acknowledges the change handed out last: memory moves past it and is saved.
function CaseWatch:ack()
  local change = self.pending
  if not change then return end
  self.pending = nil
  -- Not this memory's (the lease was lost since): its next holder hands it over again.
  if not self.state or not self.state:apply(change) then return end
  local ok, err = self:_save()
  if ok then
    self.stats.acknowledged = self.stats.acknowledged + 1
  else
    self:_unsaved(err)
  end
end

--- `for change in watch:changes() do ... end`: each change once, in order per case. Asking for the next
--- acknowledges the one before; call watch:ack() before a `break` that should count the last one as done.
function CaseWatch:changes()
  return function()
    self:ack()
    local change = self:_take()
    self.pending = change
    return change
  end
end

--- Calls fn(change) for each change until the watch ends; a change is acknowledged when fn returns. An
--- error in fn stops the watch (that change is not acknowledged) and is raised again.
function CaseWatch:run(fn)
  if type(fn) ~= "function" then errors.bad_argument("CaseWatch:run", "fn", "function expected, got " .. type(fn)) end
  -- A plain call, not a generic `for`: Lua 5.1 cannot yield from a for's iterator, and under
  -- falcon.parallel the watch yields while it waits.
  local next_change = self:changes()
  while true do
    local change = next_change()
    if change == nil then return end
    local ok, err = compat.pcall(fn, change)
    if not ok then
      self.pending = nil
      self:stop()
      error(err, 0)
    end
  end
end

--- Ends the watch: queued changes are dropped (memory is behind them, so a new watch hands them over),
--- and the lease is given up so that a standby takes over at once.
function CaseWatch:stop()
  if self.stopped then return end
  self.stopped = true
  if self.wake then self.wake.release() end
  if self.lease then self.lease:release() end
end

CaseWatch.__close = CaseWatch.stop

function CaseWatch:__tostring()
  return ("falcon.CaseWatch (%s, %s)"):format(self.filter and ("filter " .. self.filter) or "every case",
    self.stopped and "stopped" or "open")
end

return CaseWatch
