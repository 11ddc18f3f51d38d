--- Many requests in flight: falcon.parallel and falcon.map over the driver's tasks (falcon.drivers owns
-- concurrency: coroutines on one curl multi handle in plain Lua, ngx light threads inside nginx, where
-- the worker keeps serving other requests meanwhile). Inside a task the SDK is used exactly as outside:
-- the engine (falcon.client) asks falcon.drivers which driver runs it.
--   local results, errors = falcon.parallel({ f1, f2, ... }, { max = 8 })
--   local results, errors = falcon.map(items, function(item, i) ... end, { max = 8 })
local driver = require "falcon.drivers"
local compat = require "falcon.base.compat"
local errors = require "falcon.base.errors"
local options = require "falcon.base.options"

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

-- `max` workers take the tasks in turn, each a task of the driver (falcon.drivers: a coroutine on a curl
-- multi handle, or an ngx light thread); the caller waits for the last of them to end. parallel never
-- returns with a worker still running: when the machinery itself fails (memory), the workers started so
-- far are cancelled before the error goes on (the tasks' own errors are theirs, in `errors`).
local function gather(tasks, max)
  local d = driver.current()
  local outcome, next_task = { results = {} }, 1
  local workers = math.min(max, #tasks)
  local all_ended = d.queue()
  local function worker()
    while next_task <= #tasks do
      next_task = next_task + 1
      run_task(tasks, next_task - 1, outcome)
    end
    workers = workers - 1
    if workers == 0 then all_ended.release() end
  end
  local started = {}
  for i = 1, workers do started[i] = false end -- sized first: a started worker is never lost
  local ok, err = compat.pcall(function()
    for i = 1, workers do started[i] = d.spawn(worker) end
    while workers > 0 do all_ended.wait(math.huge) end
  end)
  if not ok then
    for _, handle in ipairs(started) do if handle then handle.cancel() end end
    error(err, 0)
  end
  return returned(outcome)
end

--- Runs the functions in `tasks` with at most `opts.max` (default 8, at most 64) at once.
-- Returns results (results[i] = the first value task i returned) and errors (nil when every task
-- succeeded; else errors[i] = the error task i raised, with `traceback` for string errors kept in
-- errors.tracebacks[i]). One failing task never loses the others' results. Inside a task (nested
-- parallel, ID batches) the tasks join the same scheduler.
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
  return driver.current().run(gather, tasks, max)
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
