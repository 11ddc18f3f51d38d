--- falcon.EventStream inside nginx: started from init_worker_by_lua in every worker, run by one of them.
--   init_worker_by_lua_block {
--     require("falcon.streams.nginx").start {
--       shared_dict = "falcon_streams",              -- lua_shared_dict falcon_streams 1m;
--       stream = function()                          -- the EventStream's options, made in the owner worker
--         return { client = falcon.Client.new { ... }, app_id = "forwarder1" }
--       end,
--       handler = function(event, partition) ... end, -- acknowledged when it returns
--     }
--   }
-- Each worker runs a timer that tries to take the stream's lease (a shared-dict key with a time to live,
-- renewed by its owner every ttl / 3). The owner reads the stream with cosockets, so request handling in
-- that worker goes on; the checkpoint is kept in the same shared dict by default, so when the owner dies
-- (its lease then runs out) another worker takes the lease and resumes after the last acknowledged event.
-- The lease is a seam: any {acquire(owner, ttl), renew(owner, ttl), release(owner)} may replace the
-- shared-dict one (e.g. a Redis lease shared by several machines), as may the checkpoint store.
-- luacheck: globals ngx
local checkpoint = require "falcon.streams.checkpoint"
local cosocket = require "falcon.drivers.cosocket"
local errors = require "falcon.base.errors"
local EventStream = require "falcon.streams.event_stream"
local check_keys = require("falcon.base.options").check_keys

local M = {}

local function bad(where, name, expected, got)
  errors.bad_option(where, name, ("%s expected, got %s"):format(expected, tostring(got)))
end

--- A lease in an ngx.shared dict: key -> the owner's id, expiring after ttl seconds unless renewed.
function M.shared_dict_lease(dict, key)
  return {
    acquire = function(owner, ttl)
      local ok, err = dict:add(key, owner, ttl)
      if ok then return true end
      if err ~= "exists" then return nil, err end
      return dict:get(key) == owner
    end,
    renew = function(owner, ttl)
      if dict:get(key) ~= owner then return false end
      return dict:set(key, owner, ttl) and true or false
    end,
    release = function(owner)
      if dict:get(key) == owner then dict:delete(key) end
    end,
  }
end

-- Waits `seconds` on the consumer's exit queue (released when the worker is told to exit: nginx waits for
-- its timers, so it stops at once). False when the worker is exiting.
local function nap(settings, seconds)
  if ngx.worker.exiting() then return false end
  return not settings.exit.wait(cosocket.now() + seconds)
end

-- Runs the stream (or another consumer: `opts.kind`) while this worker holds the lease; returns when the
-- lease is lost, the worker exits or the stream fails (logged; the lease is given up so that any worker
-- may try again).
local function run_owned(opts, lease, owner)
  local kind = opts.kind
  local options = opts[kind.key]()
  if type(options) ~= "table" then errors.raise(kind.where, "'%s' must return %s options", kind.key, kind.class) end
  options.checkpoint = options.checkpoint or opts.checkpoint
  local stream = kind.new(options)
  local lost = false
  local renewer = ngx.thread.spawn(function()
    while not stream.stopped do
      if not nap(opts, opts.lease_ttl / 3) or not lease.renew(owner, opts.lease_ttl) then
        lost = true
        stream:stop()
      end
    end
  end)
  local ok, err = pcall(stream.run, stream, opts.handler)
  stream:stop()
  ngx.thread.kill(renewer)
  lease.release(owner)
  if not ok then ngx.log(ngx.ERR, "falcon: ", kind.class, " ", tostring(options.app_id or options.name or ""),
    " failed: ", tostring(err)) end
  return ok and not lost
end

local EVENT_STREAM = {
  where = "event_stream_nginx", key = "stream", class = "EventStream", new = EventStream.new, name = "falcon:stream",
  handler = "function(event, partition)",
  checkpoint = function(dict, name) return checkpoint.shared_dict(dict, name .. ":checkpoint:") end,
}

--- Starts the worker's timer. Options: shared_dict (name), stream (function returning EventStream
--- options), handler(event, partition), lease_ttl (seconds, default 10), lease (a lease provider),
--- checkpoint (a store; default: the shared dict), name (the lease's key, default "falcon:stream").
function M.start(opts) return M.start_consumer(opts, EVENT_STREAM) end

--- The same for another consumer with new(options), run(handler), stop() and `stopped`, as `kind` says:
--- {where, key (the option naming the function that returns its options), class, new, handler (what it
--- is called with), name (default key prefix), checkpoint(dict, name) (its default store)}.
--- falcon.watch.nginx runs a CaseWatch so.
function M.start_consumer(opts, kind)
  local where = kind.where
  if type(opts) ~= "table" then bad(where, "options", "table", type(opts)) end
  check_keys(where, opts, { shared_dict = true, [kind.key] = true, handler = true,
    lease_ttl = true, lease = true, checkpoint = true, name = true })
  local make = opts[kind.key]
  if type(make) ~= "function" then bad(where, kind.key, "function returning " .. kind.class .. " options", type(make)) end
  if type(opts.handler) ~= "function" then bad(where, "handler", kind.handler, type(opts.handler)) end
  local dict = opts.shared_dict and ngx.shared[opts.shared_dict]
  if not dict and not (opts.lease and opts.checkpoint) then
    bad(where, "shared_dict", "the name of a lua_shared_dict (or both lease and checkpoint)", opts.shared_dict)
  end
  local settings = { kind = kind, [kind.key] = make, handler = opts.handler, lease_ttl = opts.lease_ttl or 10 }
  if type(settings.lease_ttl) ~= "number" or settings.lease_ttl < 0.1 then
    bad(where, "lease_ttl", "seconds >= 0.1", opts.lease_ttl)
  end
  local name = opts.name or kind.name
  settings.checkpoint = opts.checkpoint or kind.checkpoint(dict, name)
  local lease = opts.lease or M.shared_dict_lease(dict, name .. ":lease")
  local owner = tostring(ngx.worker.pid())

  local function loop(premature)
    if premature then return end
    settings.exit = cosocket.queue()
    cosocket.on_exit(settings, function(s) s.exit.release() end)
    while not ngx.worker.exiting() do
      if lease.acquire(owner, settings.lease_ttl) then
        local clean = run_owned(settings, lease, owner)
        if not clean then nap(settings, settings.lease_ttl) end -- a failed stream: let the API (or another worker) rest
      end
      nap(settings, settings.lease_ttl / 3)
    end
  end
  local ok, err = ngx.timer.at(0, loop)
  if not ok then errors.raise(where, "cannot start the timer: %s", tostring(err)) end
  return true
end

return M
