-- Runs inside the nginx that spec/redis_spec.lua starts (spec/helpers/openresty.lua, a server of its own
-- named "redis-spec"): falcon.fleet.redis and the fleet under the cosocket driver, against the Redis a query
-- names. GET /<scenario>?url=redis://... -> JSON. The emulator's URL and credentials come from the
-- helper's config.json.
-- luacheck: globals ngx
local cjson = require "cjson"

local M = {}
local scenarios = {}

local function kib(field)
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("*a")
  f:close()
  return tonumber(text:match(field .. ":%s*(%d+)"))
end

-- One GET through a link on the cosocket: what came back, how long it took, and the worker's memory.
function scenarios.get(args, _)
  local redis = require "falcon.fleet.redis"
  local link = redis.link(redis.settings { redis = args.url })
  collectgarbage()
  local before = kib("VmRSS")
  local started = ngx.now()
  local value, err, kind = link:call(require("falcon.drivers").current(), redis.shape.string_or_null, "GET", "key")
  ngx.update_time()
  return { value = type(value) == "string" and value or tostring(value), err = err, kind = kind,
           seconds = ngx.now() - started, grown_kib = kib("VmHWM") - before,
           driver = require("falcon.drivers").current().name }
end

-- A stream lease taken on the Redis args.url: the lease's fence, or why none.
function scenarios.lease(args, _)
  local leases = require("falcon.fleet.lease").new({ redis = args.url }, "ngxapp")
  local held, err, kind = leases:acquire(0, "worker", 5)
  leases:close()
  return { fence = held and held.fence or "none", err = err, kind = kind }
end

-- `n` API calls of a fleet member whose Redis is args.url, a little apart: statuses, counters, warnings.
function scenarios.fleet(args, config)
  local falcon = require "falcon"
  local warnings = {}
  local mc = falcon.MessageCenter { client_id = config.client_id, client_secret = config.client_secret,
    base_url = config.url, coordination = { redis = args.url, retry_interval = 0.01 },
    debug = function(_, fields) warnings[#warnings + 1] = fields.warning end }
  local statuses, started = {}, ngx.now()
  for i = 1, tonumber(args.n or 3) do
    statuses[i] = mc:query_cases { limit = 1 }.status_code
    ngx.sleep(0.03)
  end
  ngx.update_time()
  local stats = mc._client.fleet.stats
  return { statuses = statuses, seconds = ngx.now() - started, lost = stats.lost, warnings = warnings,
           driver = require("falcon.drivers").current().name }
end

-- One API call of a fleet member with max_retry_wait = 1 whose Redis is args.url: what it returned, how fast.
function scenarios.bounded(args, config)
  local falcon = require "falcon"
  local mc = falcon.MessageCenter { client_id = config.client_id, client_secret = config.client_secret,
    base_url = config.url, max_retry_wait = 1, coordination = { redis = args.url } }
  local started = ngx.now()
  local r = mc:query_cases { limit = 1 }
  ngx.update_time()
  return { status = r.status_code, kind = r.transport_error and r.transport_error.kind or "none",
           seconds = ngx.now() - started, driver = require("falcon.drivers").current().name }
end

function M.handle(config_path)
  local f = assert(io.open(config_path, "rb"))
  local config = cjson.decode(f:read("*a"))
  f:close()
  local scenario = scenarios[ngx.var.uri:match("^/(%w+)$") or ""]
  if not scenario then return ngx.exit(404) end
  local ok, result = xpcall(scenario, debug.traceback, ngx.req.get_uri_args(), config)
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(ok and result or { error = tostring(result) }))
end

--- The server block spec/helpers/openresty.lua adds (its `extra`).
M.SERVER = [[
    server {
        listen 127.0.0.1:@PORT@;
        server_name redis-spec;
        location / { content_by_lua_block { require("spec.helpers.ngx_redis_app").handle("@DIR@/config.json") } }
    }
]]

return M
