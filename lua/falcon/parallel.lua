--- Many requests in flight from plain Lua: the scheduling of tasks. Tasks are coroutines run under the
-- curl multi driver (falcon.multi_driver), or ngx light threads inside nginx. Inside a task the SDK is
-- used exactly as outside: the engine (falcon.client) asks falcon.driver which driver runs it.
--   local results, errors = falcon.parallel({ f1, f2, ... }, { max = 8 })
--   local results, errors = falcon.map(items, function(item, i) ... end, { max = 8 })
local driver = require "falcon.driver"
local compat = require "falcon.compat"
local errors = require "falcon.errors"
local multi_driver = require "falcon.multi_driver"
local options = require "falcon.options"

local parallel = {}

parallel.DEFAULT_MAX, parallel.LIMIT = 8, 64

local function check_max(opts, caller)
  options.check_keys(caller, opts, { max = true })
  local max = (opts and opts.max) or parallel.DEFAULT_MAX
  if type(max) ~= "number" or max ~= math.floor(max) or max < 1 or max > parallel.LIMIT then
    errors.bad_argument(caller, "max", ("integer 1..%d expected, got %s"):format(parallel.LIMIT, tostring(max)))
  end
  return max
end

-- Runs tasks[index] and files its result, or its error and traceback, into `outcome`.
local function run_task(tasks, index, outcome)
  local ok, value = compat.xpcall(tasks[index], function(e, co) -- co: the task's own coroutine on Lua 5.1
    outcome.tracebacks = outcome.tracebacks or {}
    local message = type(e) == "string" and e or tostring(e)
    outcome.tracebacks[index] = co and debug.traceback(co, message) or debug.traceback(message, 2)
    return e
  end)
  if ok then
    outcome.results[index] = value
  else
    outcome.errors = outcome.errors or {}
    outcome.errors[index] = value
  end
end

-- What parallel.run returns: results, and errors (with their tracebacks) or nil.
local function returned(outcome)
  if outcome.errors then outcome.errors.tracebacks = outcome.tracebacks end
  return outcome.results, outcome.errors
end

--- Runs the functions in `tasks` with at most `opts.max` (default 8, at most 64) at once.
-- Returns results (results[i] = the first value task i returned) and errors (nil when every task
-- succeeded; else errors[i] = the error task i raised, with `traceback` for string errors kept in
-- errors.tracebacks[i]). One failing task never loses the others' results.
---@param tasks function[]
---@param opts? {max: integer}
---@return table results, table|nil errors
function parallel.run(tasks, opts)
  if type(tasks) ~= "table" then
    errors.bad_argument("parallel", "tasks", "list of functions expected, got " .. type(tasks))
  end
  for i, task in ipairs(tasks) do
    if type(task) ~= "function" then
      errors.bad_argument("parallel", "tasks", ("item %d: function expected, got %s"):format(i, type(task)))
    end
  end
  local max = check_max(opts, "parallel")
  local outer = driver.current()
  if outer.gather then return outer.gather(tasks, max) end -- already inside a scheduler: share it
  if outer.name == "cosocket" then return parallel.light_threads(tasks, max) end

  local s = multi_driver.new(max)
  local outcome = { results = {} }
  local next_task, active, total = 1, 0, #tasks
  local finished = 0

  local function resume(co, ...)
    local ok, err = coroutine.resume(co, ...)
    if not ok then error(err, 0) end -- the wrapper below catches task errors; this is a bug
  end

  local start_more -- forward
  local function spawn(index)
    local co = coroutine.create(function()
      run_task(tasks, index, outcome)
      active, finished = active - 1, finished + 1
      start_more()
    end)
    driver.bind(co, s.driver)
    active = active + 1
    -- Started by the loop, not resumed here: a task that ends at once must not nest the next one's stack.
    s.ready[#s.ready + 1] = { co }
  end
  start_more = function()
    while active < max and next_task <= total do
      local index = next_task
      next_task = next_task + 1
      spawn(index)
    end
  end

  -- Tasks started from inside a task (nested parallel, ID batches) share this scheduler.
  s.driver.gather = function(inner, inner_max)
    local inner_outcome, left = { results = {} }, #inner
    local parent = compat.running()
    local in_flight, next_inner = 0, 1
    local launch -- forward
    local function child(i)
      local co = coroutine.create(function()
        run_task(inner, i, inner_outcome)
        left, in_flight = left - 1, in_flight - 1
        if left == 0 then s.ready[#s.ready + 1] = { parent } else launch() end
      end)
      driver.bind(co, s.driver)
      in_flight = in_flight + 1
      s.ready[#s.ready + 1] = { co }
    end
    launch = function()
      while in_flight < inner_max and next_inner <= #inner do
        next_inner = next_inner + 1
        child(next_inner - 1)
      end
    end
    if left == 0 then return inner_outcome.results, nil end
    launch()
    coroutine.yield()
    return returned(inner_outcome)
  end

  -- The scheduler is closed whatever happens (a memory error may end the loop): transfers still in
  -- flight end, and nothing of theirs stays referenced.
  local ok, err = pcall(function()
    start_more()
    s.loop(function() return finished == total end, resume)
  end)
  s.close()
  if not ok then error(err, 0) end
  return returned(outcome)
end

--- Inside nginx: `max` ngx light threads take the tasks in turn; every SDK call in them goes through the
-- cosocket driver, so the worker keeps serving other requests meanwhile (a curl multi handle would block it).
function parallel.light_threads(tasks, max)
  local ngx = rawget(_G, "ngx")
  local outcome = { results = {} }
  local next_task = 1
  local function worker()
    while next_task <= #tasks do
      next_task = next_task + 1
      run_task(tasks, next_task - 1, outcome)
    end
  end
  local threads = {}
  for i = 1, math.min(max, #tasks) do threads[i] = ngx.thread.spawn(worker) end
  for _, thread in ipairs(threads) do ngx.thread.wait(thread) end
  return returned(outcome)
end

--- fn(item, index) over `items`, concurrently; returns results and errors in the order of items.
function parallel.map(items, fn, opts)
  if type(items) ~= "table" then
    errors.bad_argument("map", "items", "list expected, got " .. type(items))
  end
  if type(fn) ~= "function" then
    errors.bad_argument("map", "fn", "function expected, got " .. type(fn))
  end
  check_max(opts, "map")
  local tasks = {}
  for i, item in ipairs(items) do tasks[i] = function() return fn(item, i) end end
  return parallel.run(tasks, opts)
end

return parallel
