-- One process of a fleet, for spec/fleet_spec.lua and `make bench`: `tasks` tasks on one curl multi handle
-- call the emulator until `seconds` have passed (or each made `calls` calls), starting at epoch `start`.
-- Prints one line of JSON: what it saw, and the fleet's counters.
--   lua fleet_worker.lua BASE_URL CLIENT_ID CLIENT_SECRET REDIS_URL|none TASKS SECONDS CALLS START [RETRY_INTERVAL
--     [PERMITS]]
local cjson = require "cjson"
local core = require "falcon.core"
local parallel = require "falcon.drivers.parallel"
local Client = require "falcon.client"

local base_url, client_id, client_secret, redis_url = arg[1], arg[2], arg[3], arg[4]
local tasks, seconds, calls, start = tonumber(arg[5]), tonumber(arg[6]), tonumber(arg[7]), tonumber(arg[8])
local retry_interval, permits = tonumber(arg[9] or "1"), tonumber(arg[10] or "1")

local seen = { calls = 0, ok = 0, too_many = 0, other = 0, warnings = {}, latency = 0 }
local client = Client.new {
  base_url = base_url, client_id = client_id, client_secret = client_secret, max_retry_wait = 70,
  coordination = redis_url ~= "none" and { redis = redis_url, retry_interval = retry_interval, permits = permits } or nil,
  debug = function(_, fields)
    if fields.warning then seen.warnings[#seen.warnings + 1] = fields.warning end
    if fields.status == 429 then seen.too_many = seen.too_many + 1 end
  end,
}
if start > core.now() then core.sleep(start - core.now()) end
local deadline = core.now() + seconds

local list = {}
for t = 1, tasks do
  list[t] = function()
    for _ = 1, calls do
      if core.now() >= deadline then return end
      local began = core.now()
      local response = client:request { method = "GET", route = "/message-center/queries/cases/v1",
                                        query = { limit = 1 } }
      seen.calls = seen.calls + 1
      seen.latency = seen.latency + (core.now() - began)
      if response.status_code == 200 then seen.ok = seen.ok + 1 else seen.other = seen.other + 1 end
    end
  end
end
local _, errors = parallel.run(list, { max = tasks })
if errors then
  for i, err in pairs(errors) do if i ~= "tracebacks" then io.stderr:write(tostring(err), "\n") end end
  os.exit(1)
end
seen.stats = client.fleet and client.fleet.stats or {}
io.write(cjson.encode(seen), "\n")
client:close()
