-- Start-up: load the configuration and seed data in nginx's master (init_by_lua), so the worker
-- forks with it ready; seed the worker's random generator for run-time ids.
local seed = require "emulator.seed"
local store = require "emulator.store"

local M = {}

function M.init(dir)
    store.init(dir)
    local client = store.conf.clients[1]
    seed.apply(store.start_config.seed, client and client.cid)
end

function M.init_worker()
    math.randomseed(math.floor(ngx.now() * 1000) + ngx.worker.pid())
end

return M
