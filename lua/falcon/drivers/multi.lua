--- The curl multi driver: many requests in flight from plain Lua. Tasks are coroutines; while a task waits
-- (an exchange on the wire, a sleep, a queue) it yields, and one curl multi handle (falcon.core.multi)
-- moves every exchange forward. A scheduler is that handle, its tasks, the timers of their waits and the
-- driver they run under.
--   local s = require("falcon.drivers.multi").new(max)
--   s.driver                   the driver (falcon.drivers): exchange, sleep, now, queue, spawn, run
--   s.pump(is_done, deadline)  moves the tasks forward, from outside them, until is_done() or the deadline
--   s.live                     how many of its tasks have not ended
--   s.multi                    the multi handle (s.close() closes it)
-- The blocking driver's tasks run here too: on the calling thread's own scheduler (its "home", below),
-- made when the thread first spawns a task and closed once it has none; a wait of that thread pumps it.
local core = require "falcon.core"
local compat = require "falcon.base.compat"
local errors = require "falcon.base.errors"

local multi_driver = {}

local unpack = table.unpack or unpack -- luacheck: ignore 143

local function pack(...) return { n = select("#", ...), ... } end

-- Coroutine -> the scheduler running it, weak so finished coroutines are forgotten. Process-wide by
-- necessity: the engine learns its driver from the running coroutine alone (a service call carries no
-- scheduler), and Lua keeps no per-coroutine storage but a table keyed by the coroutine.
local scheduler_of = setmetatable({}, { __mode = "k" })

--- The scheduler whose task `co` is, or nil.
function multi_driver.scheduler_of(co)
  return co and scheduler_of[co]
end
multi_driver.schedulers = scheduler_of -- (read by falcon.drivers on every call: a lookup, no Lua call)

-- A waiter is one wait of one task (or of a thread pumping its home): ended once, by a release (true) or
-- by its deadline (false).
local function wake(w, released)
  if w.done then return end
  w.done, w.released = true, released
  if w.s then w.s.resume_later(w.co, released) end
end

--- Every queue's wait takes a deadline: a number on the driver's clock (math.huge: none).
function multi_driver.check_deadline(deadline)
  if type(deadline) ~= "number" or deadline ~= deadline then
    errors.bad_argument("queue.wait", "deadline", "a time on the driver's clock expected, got " .. tostring(deadline))
  end
end
local check_deadline = multi_driver.check_deadline

--- A queue of waits for one event (falcon.drivers): q.wait(deadline) -> true when q.release() came first,
--- false at the deadline. Tasks of any scheduler wait in it; a thread outside them pumps its home.
function multi_driver.queue()
  local waiters, q = {}, {}
  function q.wait(deadline)
    check_deadline(deadline)
    local w = {}
    waiters[#waiters + 1] = w
    local s = multi_driver.scheduler_of(compat.running())
    local released
    if s then released = s.wait(w, deadline) else released = multi_driver.wait_at_home(w, deadline) end
    if not released then -- a wait that timed out leaves the list (a queue waited on often stays small)
      for i = #waiters, 1, -1 do if waiters[i] == w then table.remove(waiters, i) break end end
    end
    return released
  end
  function q.release()
    local list = waiters
    waiters = {}
    for _, w in ipairs(list) do wake(w, true) end
  end
  return q
end

-- ---- a scheduler: s.tasks (coroutine -> true), s.ready (steps to run), s.timers, s.waiting (transfer ->
-- coroutine) --------------------------------------------------------------------------------------------

local function finish(s, co)
  if s.tasks[co] then s.tasks[co], s.live = nil, s.live - 1 end
end

-- Runs one step of a task: resumes it with the values it waited for.
local function step(s, values)
  local co = values[1]
  if not s.tasks[co] then return end -- cancelled meanwhile
  local ok, err = coroutine.resume(co, unpack(values, 2, values.n))
  if not ok then
    finish(s, co)
    error(debug.traceback(co, tostring(err)), 0) -- a task catches its own errors: this one is a bug
  end
  if coroutine.status(co) == "dead" then finish(s, co) end
end

-- Starts fn as a task; the loop starts it (a task that ends at once must not nest the next one's stack).
-- Everything that allocates comes before the task counts as live: a memory error on the way leaves
-- no task that is counted but never started (its home would never be empty, so never closed).
local function spawn(s, fn)
  local co = coroutine.create(fn)
  -- cancel(): never resumed again; an exchange it had in flight goes on, its answer dropped, until the
  -- multi handle closes (a home does once its last task ends or is cancelled).
  local handle = { cancel = function()
    finish(s, co)
    if not s.pumping then s.settle() end
  end }
  scheduler_of[co] = s
  s.ready[#s.ready + 1] = pack(co) -- not yet in s.tasks: step skips it if what follows fails
  s.tasks[co] = true
  s.live = s.live + 1
  return handle
end

-- Wakes the waits whose deadline came; returns the seconds until the next one (at most `cap`).
local function due(s, now, cap)
  local still = {}
  for _, t in ipairs(s.timers) do
    if not t.w.done then
      if t.at <= now then wake(t.w, false)
      else
        still[#still + 1] = t
        cap = math.min(cap, t.at - now)
      end
    end
  end
  s.timers = still
  return cap
end

-- Moves the tasks until is_done(), the deadline, or no task is left.
local function loop(s, is_done, deadline)
  local ready, waiting = s.ready, s.waiting
  while not is_done() and s.live > 0 do
    local now = core.now()
    if now >= deadline then return end
    local timeout = due(s, now, math.min(1, deadline - now))
    if #ready > 0 then timeout = 0 end
    if timeout > 0 and next(waiting) == nil then
      core.sleep(timeout) -- no exchange in flight (the multi handle would not wait): only a timer is due
    else
      for _, transfer in ipairs(s.multi:perform(timeout)) do
        local co = waiting[transfer]
        waiting[transfer] = nil
        -- A transfer whose task is gone (cancelled, or it died before waiting) is released, not read.
        if co then s.resume_later(co, transfer:result()) else transfer:close() end
      end
    end
    -- The steps due now; the tasks add to a fresh list meanwhile (made first: no step is lost to a
    -- memory error here).
    local steps, fresh = ready, {}
    ready, s.ready = fresh, fresh
    for _, values in ipairs(steps) do step(s, values) end
  end
end

function multi_driver.new(max)
  local s = { multi = core.multi(max), live = 0, tasks = {}, ready = {}, timers = {}, waiting = {} }

  function s.resume_later(co, ...)
    if s.tasks[co] then s.ready[#s.ready + 1] = pack(co, ...) end
  end

  --- The wait of a task of s: until wake(w); a finite deadline sets a timer.
  function s.wait(w, deadline)
    w.s, w.co = s, compat.running()
    if deadline < math.huge then s.timers[#s.timers + 1] = { at = deadline, w = w } end
    return coroutine.yield()
  end

  s.driver = {
    name = "multi",
    exchange = function(client, kind, wire)
      local transfer, err = s.multi:add(client, kind, wire)
      if not transfer then return nil, err end
      s.waiting[transfer] = compat.running()
      return coroutine.yield()
    end,
    now = core.now,
    sleep = function(seconds) s.wait({}, core.now() + seconds) end,
    queue = multi_driver.queue,
    spawn = function(fn) return spawn(s, fn) end,
    run = function(fn, ...) return fn(...) end, -- already a task: fn's tasks join this scheduler
  }

  function s.pump(is_done, deadline)
    s.pumping = true
    local ok, err = pcall(loop, s, is_done, deadline)
    s.pumping = false
    if not ok then
      if s.on_empty then s.on_empty() end -- a home the error broke is closed, and the next one is new
      error(err, 0)
    end
  end

  --- A home with no task left is closed (its multi handle, and any exchange a cancelled task left).
  function s.settle()
    if s.live == 0 and s.on_empty then s.on_empty() end
  end

  -- Closes the multi handle (the exchanges still in flight end) and forgets every task: without
  -- ephemerons (LuaJIT, 5.1) a task still listed would keep itself alive through scheduler_of's value.
  function s.close()
    for transfer in pairs(s.waiting) do transfer:close() end -- its finalizer may never run (issue 27)
    s.multi:close()
    s.tasks, s.ready, s.timers, s.waiting, s.live = {}, {}, {}, {}, 0
  end
  return s
end

-- ---- the blocking driver's tasks: the calling thread's home ------------------------------------------

-- Connections per host of a home: its tasks bound how many exchanges are in flight (falcon.parallel's
-- max, a stream's partitions), so this is no limit of its own.
local HOME_CONNECTIONS = 256
local MAIN = {} -- the key of the main thread on Lua 5.1, where coroutine.running() is nil
local homes = setmetatable({}, { __mode = "k" })

--- The calling thread's home (made when `create`), or nil.
function multi_driver.home(create)
  local key = compat.running() or MAIN
  local s = homes[key]
  if not s and create then
    s = multi_driver.new(HOME_CONNECTIONS)
    s.on_empty = function()
      if homes[key] == s then homes[key] = nil end
      s.close()
    end
    homes[key] = s
  end
  return s
end

--- A wait of a thread outside every scheduler: its home's tasks move meanwhile (they are the ones that can
--- release it). With no task left, it sleeps out a finite deadline: nothing can release it any more.
function multi_driver.wait_at_home(w, deadline)
  local s = multi_driver.home(false)
  if s and s.live > 0 then
    s.pump(function() return w.done end, deadline)
    s.settle()
  end
  if w.done then return w.released end
  w.done = true
  local left = deadline - core.now()
  if left > 0 and deadline < math.huge then core.sleep(left) end
  return false
end

--- The blocking driver's run(fn, ...): fn runs as a task of the thread's home, which moves until fn
--- returns; fn's values are returned (its error raised), the tasks fn left running stay at home.
function multi_driver.run_at_home(fn, ...)
  local s = multi_driver.home(true)
  local args, outcome = pack(...), nil
  s.driver.spawn(function() outcome = pack(compat.pcall(fn, unpack(args, 1, args.n))) end)
  s.pump(function() return outcome ~= nil end, math.huge)
  s.settle()
  if not outcome[1] then error(outcome[2], 0) end
  return unpack(outcome, 2, outcome.n)
end

return multi_driver
