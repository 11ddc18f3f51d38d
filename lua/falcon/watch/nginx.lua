--- falcon.CaseWatch inside nginx: started from init_worker_by_lua in every worker, run by one of them,
-- exactly as falcon.streams.nginx runs an Event Stream (the same runner: a lease in a shared dict,
-- renewed by its holder; the others take over from the checkpoint when it dies).
--   init_worker_by_lua_block {
--     require("falcon.watch.nginx").start {
--       shared_dict = "falcon_watch",                 -- lua_shared_dict falcon_watch 1m;
--       watch = function()                            -- the CaseWatch's options, made in the owner worker
--         return { client = falcon.MessageCenter { ... }, filter = "case.status:!'closed'" }
--       end,
--       handler = function(change) ... end,           -- acknowledged when it returns
--     }
--   }
-- Options: shared_dict, watch, handler, lease_ttl (10 s), lease, checkpoint (a falcon.watch.store
-- store; default: the shared dict's key "<name>:checkpoint"), name ("falcon:casewatch").
local CaseWatch = require "falcon.watch.case_watch"
local runner = require "falcon.streams.nginx"
local store = require "falcon.watch.store"

local M = {}

local CASE_WATCH = {
  where = "case_watch_nginx", key = "watch", class = "CaseWatch", new = CaseWatch.new, name = "falcon:casewatch",
  handler = "function(change)",
  checkpoint = function(dict, name) return store.shared_dict(dict, name .. ":checkpoint") end,
}

--- Starts the worker's timer (see above).
function M.start(opts) return runner.start_consumer(opts, CASE_WATCH) end

return M
