-- Runs inside the nginx that spec/openresty_spec.lua starts: every SDK call here goes through the
-- cosocket driver. GET /<scenario>?args -> JSON. The configuration (emulator URLs, CA, credentials)
-- comes from a JSON file named in init_by_lua.
-- luacheck: globals ngx
local cjson = require "cjson"

local M = {}
local config
local services = {}

function M.init(path)
  local f = assert(io.open(path, "rb"))
  config = cjson.decode(f:read("*a"))
  f:close()
  require("falcon.drivers.cosocket").trusted_certificate = config.ca
end

local function base_options(target)
  local urls = { http = config.url, https = config.tls_url, refused = config.refused_url,
                 untrusted = config.untrusted_url }
  return { client_id = config.client_id, client_secret = config.client_secret, base_url = urls[target],
           ca_bundle = (target == "https" or target == "untrusted") and config.ca or nil }
end

-- One service object per worker and kind, as a real handler keeps one (tokens and connections reused).
local function service(kind)
  if not services[kind] then
    local falcon = require "falcon"
    local opts = base_options((kind == "shared" or kind == "fleet") and "http" or kind)
    if kind == "shared" then opts.shared_dict = "falcon_tokens" end
    if kind == "fleet" then opts.coordination = { redis = config.redis, retry_interval = 0.2 } end
    services[kind] = falcon.MessageCenter(opts)
  end
  return services[kind]
end

local scenarios = {}

-- A call of a fleet member (coordination on Redis, spec/fleet_spec.lua): what it saw and its counters.
function scenarios.fleet()
  local mc = service("fleet")
  local r = mc:query_cases { limit = 1 }
  local stats = mc._client.fleet.stats
  return { status = r.status_code, driver = require("falcon.drivers").current().name, pid = ngx.worker.pid(),
           message = r.status_code ~= 200 and cjson.encode(r.body) or nil,
           token_fetches = stats.token_fetches, alone_fetches = stats.alone_fetches, adopted = stats.adopted,
           lost = stats.lost, back = stats.back }
end

function scenarios.driver()
  return { driver = require("falcon.drivers").current().name, phase = ngx.get_phase() }
end

-- One SDK call (a case query), as a webhook handler would make.
function scenarios.query(args)
  local mc = service(args.kind or "http")
  local r = mc:query_cases { limit = 1 }
  return { status = r.status_code, pid = ngx.worker.pid(), count = r.body and r.body.resources and #r.body.resources }
end

-- falcon.parallel inside a handler: n queries at once on ngx light threads (cosockets, never blocking).
function scenarios.parallel(args)
  local mc = service("http")
  local tasks = {}
  for i = 1, tonumber(args.n or 5) do
    tasks[i] = function()
      return { status = mc:query_cases { limit = 1, offset = i }.status_code,
               driver = require("falcon.drivers").current().name }
    end
  end
  local started = ngx.now()
  local results, errors = require("falcon").parallel(tasks, { max = 8 })
  ngx.update_time()
  local statuses, drivers = {}, {}
  for i, r in ipairs(results) do statuses[i], drivers[r.driver] = r.status, true end
  return { statuses = statuses, errors = errors and #errors or 0, seconds = ngx.now() - started,
           drivers = drivers }
end

-- n light threads of a fresh client find no token: one renews, the others wait for it (no longer than
-- max_retry_wait, when given). Counts the driver's sleeps meanwhile (a waiter that polled would sleep).
function scenarios.renewal(args)
  local falcon = require "falcon"
  local cosocket = require "falcon.drivers.cosocket"
  local opts = base_options("http")
  opts.max_retry_wait = tonumber(args.max_retry_wait)
  local mc = falcon.MessageCenter(opts)
  local sleep, sleeps = cosocket.sleep, 0
  cosocket.sleep = function(seconds) sleeps = sleeps + 1; return sleep(seconds) end
  local tasks = {}
  for i = 1, tonumber(args.n or 5) do tasks[i] = function() return mc:query_cases { limit = 1 }.status_code end end
  local ok, results = pcall(falcon.parallel, tasks, { max = 8 })
  cosocket.sleep = sleep
  assert(ok, results)
  return { statuses = results, sleeps = sleeps }
end

-- The Message Center workflow: create, comment, attach (streamed from a file), find, read activities,
-- page, aggregate, download to a file.
function scenarios.workflow(args)
  local mc = service(args.scheme or "http")
  local steps = {}
  local user = "00000000-0000-4000-8000-000000000001"
  local created = mc:create_case_v2 { title = "nginx " .. ngx.now(), type = "fc:detection-support", user_uuid = user,
                                      content = "opened from nginx", detections = {}, incidents = {} }
  steps.create = created.status_code
  local case_id = created.body.resources[1].id
  steps.comment = mc:add_case_activity { case_id = case_id, type = "comment", user_uuid = user,
                                         content = "comment from nginx" }.status_code
  local attached = mc:add_case_attachment { case_id = case_id, user_uuid = user, file_path = args.upload,
                                            file_name = "upload.txt" }
  steps.attach = attached.status_code
  local attachment = attached.body.resources and attached.body.resources[1]
  steps.get = mc:get_cases { case_id }.status_code
  local activities = mc:query_activities { case_id = case_id }
  steps.activities = activities.body.resources and #activities.body.resources
  local pages, seen = 0, 0
  for page in mc:pages("query_cases", { limit = 10 }) do
    pages = pages + 1
    local items = type(page) == "table" and page.body and page.body.resources
    seen = seen + (items and #items or 0)
    if pages == 3 then break end
  end
  steps.pages, steps.paged = pages, seen
  steps.aggregate = mc:aggregate_cases { field = "case.status", name = "status", type = "terms" }.status_code
  if attachment then
    local downloaded = mc:download_case_attachment { id = attachment.id, save_to = args.download }
    steps.download = downloaded.status_code
    steps.saved_bytes = downloaded.saved_bytes
  end
  steps.driver = require("falcon.drivers").current().name
  return steps
end

-- Pages through `op` of service class `service` with each(): how many items came, and the error that
-- ended it, if any.
function scenarios.each(args)
  local falcon = require "falcon"
  local svc = falcon[args.service](base_options("http"))
  local count = 0
  local ok, err = pcall(function()
    for _ in svc:each(args.op, { limit = tonumber(args.limit), sort = args.sort, filter = args.filter }) do
      count = count + 1
    end
  end)
  return { count = count, code = not ok and err.code or nil, message = not ok and tostring(err) or nil,
           driver = require("falcon.drivers").current().name }
end

function scenarios.case(args)
  local cases = require "spec.helpers.driver_cases"
  local Client = require "falcon.client"
  local case = assert(cases.by_name[args.name], "no case " .. tostring(args.name))
  return cases.run(Client, case, base_options(case.target))
end

-- A hostile-server case (spec/helpers/hostile_cases.lua) through the cosocket driver.
function scenarios.hostile(args)
  local cases = require "spec.helpers.hostile_cases"
  return cases.run(require "falcon.client", cases.by_name[args.case], args.url, ngx.sleep)
end

-- A JSON answer decoded by the cosocket driver (spec/helpers/json_cases.lua).
function scenarios.json_case(args)
  local json_cases = require "spec.helpers.json_cases"
  local case = assert(json_cases.by_name[args.name], "no JSON case " .. tostring(args.name))
  return json_cases.run(require "falcon.client", case, base_options("http"))
end

-- falcon.EventStream in a handler (cosocket driver): reads until every partition (0 .. partitions-1) gave
-- `events` events; says whether each partition's offsets went 1, 2, 3, ... and what the stream counted.
function scenarios.stream(args)
  local falcon = require "falcon"
  local stream = falcon.EventStream { client = service("http")._client, app_id = args.app,
                                      backoff = { initial = 0.05, max = 0.2 } }
  local events, partitions = tonumber(args.events), tonumber(args.partitions or 2)
  local last, done, problems = {}, 0, {}
  for p = 0, partitions - 1 do last[p] = 0 end
  for event, partition in stream:events() do
    local offset = event.metadata.offset
    if offset ~= last[partition] + 1 then
      problems[#problems + 1] = ("partition %d: %d after %d"):format(partition, offset, last[partition])
    end
    last[partition] = offset
    if offset == events then done = done + 1 end
    if done == partitions then break end
  end
  stream:ack()
  stream:stop()
  local counts = {}
  for p = 0, partitions - 1 do counts[p + 1] = last[p] end
  return { last = counts, problems = problems, stats = stream.stats, driver = require("falcon.drivers").current().name }
end

-- The wire spec's sequence of request shapes through the cosocket driver, to the recording server at
-- config.url (spec/wire_spec.lua reads what arrived): what each call raised.
function scenarios.wire(args)
  local falcon = require "falcon"
  local client = falcon.Client.new { access_token = args.token, base_url = config.url, max_retries = 0 }
  return { raised = require("spec.helpers.wire_rules").run_sequence(falcon, client, args.file),
           driver = require("falcon.drivers").current().name }
end

-- A case watch (spec/case_watch_openresty_spec.lua) until it is idle for `idle` seconds: the changes it
-- handed over ("kind case item"), its counters and the driver it ran on.
function scenarios.watch(args)
  local watch = service("http"):watch { interval = 0.05, settle = 1, sweep = false, since = args.since,
    idle_timeout = tonumber(args.idle) or 1.5, backoff = { initial = 0.05, max = 0.3 } }
  local lines = {}
  for change in watch:changes() do
    local item = change.activity or change.attachment
    lines[#lines + 1] = change.kind .. " " .. change.case_id .. " " .. (item and item.id or "-")
  end
  return { lines = lines, stats = watch.stats, driver = require("falcon.drivers").current().name }
end

function M.handle()
  local name = ngx.var.uri:match("^/([%w_]+)$")
  local scenario = name and scenarios[name]
  if not scenario then return ngx.exit(404) end
  local ok, result = xpcall(scenario, debug.traceback, ngx.req.get_uri_args())
  ngx.header["Content-Type"] = "application/json"
  if not ok then
    ngx.status = 500
    ngx.say(cjson.encode { error = tostring(result) })
    return
  end
  ngx.say(cjson.encode(result))
end

return M
