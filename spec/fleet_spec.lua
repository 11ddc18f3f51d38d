-- A fleet on Redis (falcon.fleet): several OS processes, one emulator, one real redis-server.
local cjson = require "cjson"
local core = require "falcon.core"
local emu = require "spec.helpers.emulator"
local redis_server = require "spec.helpers.redis"
local Client = require "falcon.client"

local vm = require("spec.helpers.spawn").lua_command()
local root = emu.script:match("^(.*)/emulator/falcon%-emulator$")
local ROUTE = "/message-center/queries/cases/v1"

-- Runs `count` worker processes at once (spec/helpers/fleet_worker.lua); `during(started_at)` runs in this
-- process meanwhile. Returns the workers' reports.
local function run_fleet(e, redis_url, count, tasks, seconds, calls, during, retry_interval)
  local dir = emu.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-fleet.XXXXXX\""):gsub("%s+$", "")
  local start = core.now() + 0.3
  local parts = {}
  for i = 1, count do
    parts[i] = ("%s %s %s %s %s %s %d %s %d %.3f %s >%s/%d.out 2>%s/%d.err &"):format(vm,
      emu.quote(root .. "/spec/helpers/fleet_worker.lua"), emu.quote(e.url), e.client_id, e.client_secret,
      redis_url or "none", tasks, seconds, calls, start, retry_interval or 1, dir, i, dir, i)
  end
  emu.run("(" .. table.concat(parts, " ") .. " wait) >/dev/null 2>&1 & :")
  if during then during(start) end
  local reports = {}
  for _ = 1, 600 do
    local done = 0
    for i = 1, count do
      local text = emu.read_file(dir .. "/" .. i .. ".out") or ""
      if text:find("\n") then done = done + 1; reports[i] = cjson.decode(text) end
    end
    if done == count then break end
    local err = emu.read_file(dir .. "/1.err") or ""
    assert(err == "", err)
    core.sleep(0.05)
  end
  emu.run("rm -rf " .. emu.quote(dir))
  assert.equal(count, #reports)
  return reports
end

local function requests_to(e, uri)
  local list = {}
  for _, entry in ipairs(e:requests()) do if entry.uri == uri then list[#list + 1] = entry end end
  return list
end

-- Arrival times (epoch seconds) of the API calls the emulator answered, and how many were 429s.
local function api_calls(e)
  local times, too_many = {}, 0
  for _, entry in ipairs(e:requests()) do
    if entry.uri == ROUTE then
      times[#times + 1] = entry.time
      if entry.status == 429 then too_many = too_many + 1 end
    end
  end
  table.sort(times)
  return times, too_many
end

local function between(times, from, to)
  local n = 0
  for _, t in ipairs(times) do if t >= from and t < to then n = n + 1 end end
  return n
end

describe("a fleet on Redis", function()
  local e, redis
  setup(function()
    e = emu.start { log_limit = 20000 }
    redis = redis_server.start()
  end)
  teardown(function()
    if redis then redis:stop() end
    if e then e:stop() end
  end)
  before_each(function()
    e:control("reset", {})
    redis:cli("FLUSHALL")
  end)

  local function client(more)
    local opts = { base_url = e.url, client_id = e.client_id, client_secret = e.client_secret,
                   coordination = { redis = redis.url } }
    for k, v in pairs(more or {}) do opts[k] = v end
    return Client.new(opts)
  end

  it("fetches one token for the whole fleet and keeps it sealed in Redis", function()
    local reports = run_fleet(e, redis.url, 4, 4, 30, 5)
    local fetched = 0
    for _, r in ipairs(reports) do
      assert.same({ 20, 20, 0 }, { r.calls, r.ok, r.other })
      fetched = fetched + r.stats.token_fetches
    end
    assert.equal(1, fetched)
    assert.equal(1, #requests_to(e, "/oauth2/token"))
    -- What Redis holds is useless without the secret: the bearer token the API saw is not in it.
    local bearer = requests_to(e, ROUTE)[1].headers.authorization:match("^Bearer (.+)$")
    local keys = redis:cli("KEYS", "falcon:*:token")
    assert.truthy(keys:find(":token$"))
    local stored = redis:cli("GET", keys)
    assert.truthy(#stored > 40)
    assert.falsy(stored:find(bearer, 1, true))
    assert.falsy(stored:find(bearer:sub(1, 12), 1, true))
  end)

  it("never sends more than the budget X-Ratelimit-Limit names, and no 429 comes back", function()
    -- 120 a minute: the fleet may start with a burst of 2 and then 1.92 a second.
    e:control("config", { rate_limit = { limit = 120, window = 60 } })
    local started = core.now()
    local reports = run_fleet(e, redis.url, 3, 4, 3, 1000)
    local elapsed = core.now() - started
    local sent = #e:requests()
    for _, r in ipairs(reports) do assert.same({ 0, 0 }, { r.too_many, r.other }) end
    assert.is_true(sent <= 2 + 1 + 120 * 0.96 / 60 * elapsed, "sent " .. sent .. " in " .. elapsed .. " s")
    assert.is_true(sent >= 4, "sent " .. sent)
    for _, entry in ipairs(e:requests()) do assert.equal(200 + (entry.uri == "/oauth2/token" and 1 or 0), entry.status) end
  end)

  it("uses the limit as soon as an API answer names it (the token answer names none)", function()
    -- 600 a minute: a burst of 12, then 9.6 a second; before any answer, 5 a second.
    e:control("config", { rate_limit = { limit = 600, window = 60 } })
    local reports = run_fleet(e, redis.url, 3, 8, 4, 1000)
    local times, too_many = api_calls(e)
    for _, r in ipairs(reports) do assert.same({ 0, 0 }, { r.too_many, r.other }) end
    assert.equal(0, too_many)
    local first = times[1]
    -- Never ahead of the budget (burst, then the rate, from the first call)...
    for i, t in ipairs(times) do
      assert.is_true(i <= 13 + 9.6 * (t - first) + 1, ("call %d at %.2f s"):format(i, t - first))
    end
    -- ...and using it: slots spaced for 5 a second were not kept once the limit was known.
    local early = between(times, first, first + 3)
    assert.is_true(early >= 30, "calls in the first 3 s: " .. early)
  end)

  it("pauses every task of every process after a 429, those holding a reserved slot too", function()
    e:control("config", { rate_limit = { limit = 600, window = 60 } })
    local faulted
    run_fleet(e, redis.url, 3, 8, 5, 1000, function(start)
      core.sleep(start + 2 - core.now())
      e:control("faults", { route = ROUTE, status = 429, retry_after = 2, count = 1 })
      faulted = core.now()
    end)
    local answered
    for _, entry in ipairs(e:requests()) do
      if entry.status == 429 then answered = answered or entry.time end
    end
    assert.truthy(answered, "no 429 was answered")
    assert.is_true(answered - faulted < 1, "the 429 came " .. (answered - faulted) .. " s after the fault was set")
    local times = api_calls(e)
    -- The API named a time 2 s (at least) away: after the requests already on their way, none arrives
    -- until then, from any task of any process.
    local inside = between(times, answered + 0.25, answered + 1.9)
    assert.equal(0, inside, "requests inside the pause")
    assert.is_true(between(times, answered + 1.9, answered + 3.5) > 0, "the fleet did not resume")
  end)

  it("stays inside the fleet's budget while Redis is down, and starts with no burst when it is back empty", function()
    -- 120 a minute: the fleet sends 1.92 a second; 24 tasks alone would send hundreds.
    e:control("config", { rate_limit = { limit = 120, window = 60 } })
    local down, back
    local reports = run_fleet(e, redis.url, 3, 8, 10, 1000, function(start)
      core.sleep(start + 2.5 - core.now())
      redis:kill()
      down = core.now()
      core.sleep(5)
      redis:restart()
      back = core.now()
    end, 0.2)
    local times, too_many = api_calls(e)
    assert.equal(0, too_many)
    for _, r in ipairs(reports) do assert.same({ 1, 1, 0 }, { r.stats.lost, r.stats.back, r.too_many }) end
    local during = between(times, down, back)
    assert.is_true(during <= 1.92 * 5 * 1.5 + 3, "calls while Redis was down: " .. during)
    assert.is_true(during >= 3, "calls while Redis was down: " .. during)
    local after = between(times, back, back + 1.5)
    assert.is_true(after <= 1.92 * 1.5 + 3, "calls in the 1.5 s after Redis came back empty: " .. after)
  end)

  it("returns the rate_limit error, sending nothing, when the fleet's slot or pause is past max_retry_wait", function()
    local one = client { max_retry_wait = 2 }
    assert.equal(200, one:request { method = "GET", route = ROUTE }.status_code)
    local seen = #e:requests()
    local redis_now = redis:cli("TIME"):match("^(%d+)")
    -- A budget whose next slot is an hour away (a forged entry, or a fleet far over its budget)...
    redis:cli("HSET", one.fleet.keys.budget, "tat", tostring((tonumber(redis_now) + 3600) * 1000), "limit", "6000",
              "interval", "10.416667")
    local began = core.now()
    local refused = one:request { method = "GET", route = ROUTE }
    assert.is_true(core.now() - began < 1.5, "took " .. (core.now() - began))
    assert.equal(500, refused.status_code)
    assert.same({ "rate_limit", false }, { refused.transport_error.kind, refused.transport_error.reached_server })
    assert.truthy(refused.body.errors[1].message:find("fleet budget", 1, true), refused.body.errors[1].message)
    -- ...or a pause an hour long: the same, under curl multi too.
    redis:cli("DEL", one.fleet.keys.budget)
    redis:cli("SET", one.fleet.keys.pause, "1", "PX", "3600000")
    local tasks = {}
    for i = 1, 4 do tasks[i] = function() return one:request { method = "GET", route = ROUTE } end end
    began = core.now()
    local results = require("falcon.drivers.parallel").run(tasks, { max = 4 })
    assert.is_true(core.now() - began < 1.5, "took " .. (core.now() - began))
    for _, r in ipairs(results) do assert.same({ 500, "rate_limit" }, { r.status_code, r.transport_error.kind }) end
    assert.equal(seen, #e:requests())
    -- A pause within max_retry_wait is waited out.
    redis:cli("SET", one.fleet.keys.pause, "1", "PX", "1000")
    began = core.now()
    assert.equal(200, one:request { method = "GET", route = ROUTE }.status_code)
    assert.is_true(core.now() - began >= 0.8, "did not wait: " .. (core.now() - began))
    -- In Result mode the refusal raises, as a transport failure.
    redis:cli("SET", one.fleet.keys.pause, "1", "PX", "3600000")
    local pythonic = require("falcon").MessageCenter { base_url = e.url, client_id = e.client_id,
      client_secret = e.client_secret, pythonic = true, max_retry_wait = 2, coordination = { redis = redis.url } }
    local ok, err = pcall(pythonic.query_cases, pythonic, { limit = 1 })
    assert.is_false(ok)
    assert.same({ "transport", "rate_limit" }, { err.kind, err.transport_error.kind })
    one:close()
  end)

  it("waits for another process's renewal no longer than max_retry_wait, then fetches its own token", function()
    local one = client { max_retry_wait = 1 }
    redis:cli("SET", one.fleet.keys.lock, "another-process", "PX", "30000")
    local began = core.now()
    assert.equal(200, one:request { method = "GET", route = ROUTE }.status_code)
    local took = core.now() - began
    assert.is_true(took >= 0.9 and took < 5, "took " .. took)
    assert.equal(1, one.fleet.stats.token_fetches)
    one:close()
  end)

  it("looks at Redis after a growing backoff while another process renews: a few round trips, no poll", function()
    local one = client { max_retry_wait = 1.5 }
    redis:cli("SET", one.fleet.keys.lock, "another-process", "PX", "30000")
    assert.equal(200, one:request { method = "GET", route = ROUTE }.status_code)
    -- Looking every 20 ms for 1.5 s took about 150 round trips; a backoff doubling to 0.5 s takes a tenth.
    assert.is_true(one.fleet.stats.round_trips <= 30, one.fleet.stats.round_trips .. " round trips")
    one:close()
  end)

  it("pauses every process after a 429 until the time the API named", function()
    local first, second = client(), client()
    assert.equal(200, first:request { method = "GET", route = ROUTE }.status_code)
    assert.equal(200, second:request { method = "GET", route = ROUTE }.status_code)
    e:control("faults", { route = ROUTE, status = 429, retry_after = 1, count = 1 })
    local was = first.policy.max_retries
    first.policy.max_retries = 0 -- the 429 comes back to the caller: the pause is the fleet's
    assert.equal(429, first:request { method = "GET", route = ROUTE }.status_code)
    first.policy.max_retries = was
    local began = core.now()
    assert.equal(200, second:request { method = "GET", route = ROUTE }.status_code)
    assert.is_true(core.now() - began >= 0.8, "second waited " .. (core.now() - began))
    first:close(); second:close()
  end)

  it("goes on alone while Redis is down, with one warning, and shares again when it is back", function()
    local reports = run_fleet(e, redis.url, 3, 4, 3, 1000, function(start)
      core.sleep(start + 0.8 - core.now())
      redis:kill()
      core.sleep(0.8)
      redis:restart()
    end, 0.2)
    for _, r in ipairs(reports) do
      assert.same({ 0, 0 }, { r.too_many, r.other })
      assert.is_true(r.ok > 10)
      assert.same({ 1, 1 }, { r.stats.lost, r.stats.back })
      assert.equal(2, #r.warnings)
      assert.truthy(r.warnings[1]:find("going on alone", 1, true))
      assert.truthy(r.warnings[2]:find("answers again", 1, true))
    end
    assert.equal(1, #requests_to(e, "/oauth2/token"))
  end)

  it("renews once, under the lock, while the others keep using the token they hold", function()
    -- A token that lives 122 s is inside the 120 s renew window after 2 s.
    e:control("config", { clients = { { client_id = "f1ee7000000000000000000000000001",
      client_secret = "FleetSecretForTheFalconluaEmulator000001", scopes = { "message-center:read" },
      token_lifetime = 122 } } })
    local function member()
      return Client.new { base_url = e.url, client_id = "f1ee7000000000000000000000000001",
                          client_secret = "FleetSecretForTheFalconluaEmulator000001",
                          coordination = { redis = redis.url } }
    end
    local first, second = member(), member()
    assert.equal(200, first:request { method = "GET", route = ROUTE }.status_code)
    assert.equal(200, second:request { method = "GET", route = ROUTE }.status_code)
    assert.same({ 1, 1 }, { #requests_to(e, "/oauth2/token"), second.fleet.stats.adopted })
    core.sleep(2.2)
    -- Another process is renewing (it holds the lock): the token held is used meanwhile.
    redis:cli("SET", second.fleet.keys.lock, "another-process", "PX", "10000")
    assert.equal(200, second:request { method = "GET", route = ROUTE }.status_code)
    -- A process that starts now, with no token, takes the current one, due as it is.
    local third = member()
    assert.equal(200, third:request { method = "GET", route = ROUTE }.status_code)
    assert.equal(1, third.fleet.stats.adopted)
    third:close()
    assert.equal(1, #requests_to(e, "/oauth2/token"))
    local calls = requests_to(e, ROUTE)
    assert.equal(calls[1].headers.authorization, calls[#calls].headers.authorization)
    -- The lock is gone: one process renews, the other adopts the new token.
    redis:cli("DEL", second.fleet.keys.lock)
    assert.equal(200, second:request { method = "GET", route = ROUTE }.status_code)
    assert.equal(200, first:request { method = "GET", route = ROUTE }.status_code)
    assert.equal(2, #requests_to(e, "/oauth2/token"))
    calls = requests_to(e, ROUTE)
    assert.are_not.equal(calls[1].headers.authorization, calls[#calls].headers.authorization)
    assert.equal(calls[#calls - 1].headers.authorization, calls[#calls].headers.authorization)
    assert.same({ 1, 1 }, { second.fleet.stats.token_fetches, first.fleet.stats.adopted })
    first:close(); second:close()
  end)

  it("takes a few permits per round trip when asked to", function()
    local one = client { coordination = { redis = redis.url, permits = 4 } }
    assert.equal(200, one:request { method = "GET", route = ROUTE }.status_code) -- token and first permits
    local before = one.fleet.stats.round_trips
    for _ = 1, 8 do assert.equal(200, one:request { method = "GET", route = ROUTE }.status_code) end
    assert.is_true(one.fleet.stats.round_trips - before <= 3, "round trips: " .. (one.fleet.stats.round_trips - before))
    one:close()
  end)

  it("holds the tasks of a curl multi loop for one bounded round trip when Redis is slow", function()
    local parallel = require "falcon.drivers.parallel"
    local lines = {}
    local one = client { coordination = { redis = redis.url, timeout = 0.2, retry_interval = 5 },
                         debug = function(_, fields) lines[#lines + 1] = fields.warning end }
    assert.equal(200, one:request { method = "GET", route = ROUTE }.status_code)
    redis:cli("CLIENT", "PAUSE", "3000", "ALL") -- Redis accepts, but answers nothing for 3 s
    local began = core.now()
    local tasks = {}
    for i = 1, 8 do tasks[i] = function() return one:request { method = "GET", route = ROUTE }.status_code end end
    local results = parallel.run(tasks, { max = 8 })
    local took = core.now() - began
    redis:cli("CLIENT", "UNPAUSE")
    assert.same({ 200, 200, 200, 200, 200, 200, 200, 200 }, results)
    assert.is_true(took < 2.5, "took " .. took) -- well under the 3 s pause: nobody waited it out
    assert.equal(1, #lines)
    assert.truthy(lines[1]:find("timeout", 1, true), lines[1])
    one:close()
  end)

  it("refuses a stored token that was altered, and fetches its own", function()
    local first = client()
    assert.equal(200, first:request { method = "GET", route = ROUTE }.status_code)
    local link = require("falcon.fleet.redis").link(require("falcon.fleet.redis").settings { redis = redis.url })
    local blocking = require("falcon.drivers").blocking
    local key = redis:cli("KEYS", "falcon:*:token")
    local stored = assert(link:call(blocking, require("falcon.fleet.redis").shape.string, "GET", key))
    local expires_at, generation, sealed = stored:match("^([^\n]+)\n(%d+)\n(.+)$")
    -- Another expiry makes the seal fail (the expiry is authenticated), like a flipped byte would.
    assert(link:call(blocking, require("falcon.fleet.redis").shape.ok, "SET", key,
                     ("%.3f\n%d\n"):format(tonumber(expires_at) + 3600, generation) .. sealed))
    link:close()
    local second = client()
    assert.equal(200, second:request { method = "GET", route = ROUTE }.status_code)
    assert.same({ 0, 1 }, { second.fleet.stats.adopted, second.fleet.stats.token_fetches })
    assert.equal(2, #requests_to(e, "/oauth2/token"))
    first:close(); second:close()
  end)

  it("checks the coordination option at the door", function()
    local function fails(coordination, pattern)
      local ok, err = pcall(client, { coordination = coordination })
      assert.is_false(ok)
      assert.truthy(tostring(err):find(pattern), err)
    end
    fails({ redis = "http://127.0.0.1:1" }, "coordination.redis")
    fails({ redis = redis.url, prefx = "x" }, "unknown option 'coordination.prefx'.*prefix")
    fails({ redis = redis.url, timeout = 0 }, "coordination.timeout")
    fails({ redis = redis.url, permits = 0 }, "coordination.permits")
    fails({ redis = redis.url, prefix = "a b" }, "coordination.prefix")
    local ok, err = pcall(Client.new, { base_url = e.url, access_token = "abc", coordination = { redis = redis.url } })
    assert.is_false(ok)
    assert.truthy(err:find("handed%-in token"))
  end)

  it("uses Redis AUTH and never shows the password", function()
    local guarded = redis_server.start { "--requirepass", "s3cret-pass" }
    local lines = {}
    local ok, err = pcall(function()
      local wrong = client { coordination = { redis = guarded.url, password = "wrong-pass" },
                             debug = function(line) lines[#lines + 1] = line end }
      assert.equal(200, wrong:request { method = "GET", route = ROUTE }.status_code)
      assert.equal(1, wrong.fleet.stats.lost)
      assert.falsy(table.concat(lines, "\n"):find("wrong-pass", 1, true))
      assert.falsy(tostring(wrong):find("pass", 1, true))
      local right = client { coordination = { redis = "redis://:s3cret-pass@127.0.0.1:" .. guarded.port .. "/2" } }
      assert.equal(200, right:request { method = "GET", route = ROUTE }.status_code)
      assert.same({ 0, 1 }, { right.fleet.stats.lost, right.fleet.stats.token_fetches })
      assert.truthy(guarded:cli("-a", "s3cret-pass", "-n", "2", "KEYS", "*"):find(":token", 1, true))
      wrong:close(); right:close()
    end)
    guarded:stop()
    assert(ok, err)
  end)
end)

describe("a fleet of two nginx instances (cosockets) on Redis", function()
  local openresty = require "spec.helpers.openresty"
  local e, redis, servers
  setup(function()
    e = emu.start {}
    redis = redis_server.start()
    servers = {}
    for i = 1, 2 do
      servers[i] = openresty.start { emu = e, workers = 2, redis = redis.url,
                                     extra = require("spec.helpers.ngx_redis_app").SERVER }
    end
  end)
  teardown(function()
    for _, s in ipairs(servers or {}) do s:stop() end
    if redis then redis:stop() end
    if e then e:stop() end
  end)

  -- n calls to each nginx at once (curl in parallel), the answers decoded.
  local function burst(n)
    local urls = {}
    for _, s in ipairs(servers) do
      for _ = 1, n do urls[#urls + 1] = emu.quote(s.url .. "/fleet") end
    end
    local out = emu.run("curl -sS --no-progress-meter --max-time 30 --parallel --parallel-max 16 -w '\\n' "
      .. table.concat(urls, " "))
    local answers = {}
    for line in out:gmatch("[^\n]+") do answers[#answers + 1] = cjson.decode(line) end
    assert.equal(n * #servers, #answers)
    return answers
  end

  it("fetches one token for every worker of both, and keeps serving through a Redis restart", function()
    local workers = {}
    for _, a in ipairs(burst(12)) do
      assert.same({ 200, "cosocket" }, { a.status, a.driver }, cjson.encode(a))
      workers[a.pid] = true
    end
    local answered = 0
    for _ in pairs(workers) do answered = answered + 1 end
    assert.is_true(answered >= 2, "workers that answered: " .. answered)
    assert.equal(1, #requests_to(e, "/oauth2/token"))
    redis:kill()
    local alone = {}
    for _, a in ipairs(burst(6)) do
      assert.equal(200, a.status)
      alone[a.pid] = math.max(alone[a.pid] or 0, a.alone_fetches)
    end
    redis:restart()
    core.sleep(0.3)
    local lost, back = 0, 0
    for _, a in ipairs(burst(12)) do
      assert.equal(200, a.status)
      lost, back = math.max(lost, a.lost), math.max(back, a.back)
      alone[a.pid] = math.max(alone[a.pid] or 0, a.alone_fetches)
    end
    assert.same({ 1, 1 }, { lost, back })
    -- Only a worker that held no token when Redis died fetched one of its own meanwhile.
    local fetched_alone = 0
    for pid, n in pairs(alone) do
      if workers[pid] then assert.equal(0, n) end
      fetched_alone = fetched_alone + n
    end
    assert.equal(1 + fetched_alone, #requests_to(e, "/oauth2/token"))
    local log = servers[1]:errors() .. servers[2]:errors()
    assert.truthy(log:find("going on alone", 1, true), log)
    assert.truthy(log:find("answers again", 1, true), log)
  end)

  it("returns the rate_limit error at once, sending nothing, when the fleet is paused past max_retry_wait", function()
    local keys = Client.new { base_url = e.url, client_id = e.client_id, client_secret = e.client_secret,
                              coordination = { redis = redis.url } }.fleet.keys
    redis:cli("SET", keys.pause, "1", "PX", "3600000")
    local seen = #e:requests()
    local out = emu.run("curl -sS --max-time 30 -H 'Host: redis-spec' "
      .. emu.quote(servers[1].url .. "/bounded?url=" .. redis.url))
    redis:cli("DEL", keys.pause)
    local answer = cjson.decode(out)
    assert.same({ "cosocket", 500, "rate_limit" }, { answer.driver, answer.status, answer.kind }, out)
    assert.is_true(answer.seconds < 1, "took " .. answer.seconds)
    -- Nothing went to the API but the token request (a token is not the API's budget).
    local log = e:requests()
    for i = seen + 1, #log do assert.equal("/oauth2/token", log[i].uri) end
  end)
end)

describe("a fleet on Redis over TLS", function()
  local e, redis
  setup(function()
    e = emu.start {}
    redis = redis_server.start_tls()
  end)
  teardown(function()
    if redis then redis:stop() end
    if e then e:stop() end
  end)

  it("shares the token inside nginx too (cosockets, verified against lua_ssl_trusted_certificate)", function()
    local openresty = require "spec.helpers.openresty"
    -- Redis with the emulator's server certificate, which the nginx helper trusts.
    local signed = redis_server.start_tls { cert = e.dir .. "/tls/server.pem", key = e.dir .. "/tls/server.key",
                                            ca = e.ca }
    local server
    local ok, err = pcall(function()
      server = openresty.start { emu = e, workers = 1, redis = signed.url }
      local first, second = server:get("/fleet"), server:get("/fleet")
      assert.same({ 200, 200, "cosocket" }, { first.status, second.status, second.driver })
      assert.same({ 1, 0 }, { second.token_fetches, second.lost }, server:errors())
      assert.truthy(signed:cli("KEYS", "*"):find(":token", 1, true))
    end)
    if server then server:stop() end
    signed:stop()
    assert(ok, err)
  end)

  it("shares the token through rediss://, and will not talk to a server it cannot verify", function()
    local function client(coordination, lines)
      return Client.new { base_url = e.url, client_id = e.client_id, client_secret = e.client_secret,
                          coordination = coordination, debug = function(line) lines[#lines + 1] = line end }
    end
    local lines = {}
    local first = client({ redis = redis.url, ca_bundle = redis.ca }, lines)
    local second = client({ redis = redis.url, ca_bundle = redis.ca }, lines)
    assert.equal(200, first:request { method = "GET", route = ROUTE }.status_code)
    assert.equal(200, second:request { method = "GET", route = ROUTE }.status_code)
    assert.same({ 1, 0, 0, 1 }, { first.fleet.stats.token_fetches, first.fleet.stats.lost,
                                  second.fleet.stats.token_fetches, second.fleet.stats.adopted })
    assert.truthy(redis:cli("KEYS", "*"):find(":token", 1, true))
    -- Not trusted (no CA given), or trusted but for another name: no coordination, one warning each.
    local untrusted_lines, misnamed_lines = {}, {}
    local untrusted = client({ redis = redis.url }, untrusted_lines)
    local misnamed = client({ redis = "rediss://localhost:" .. redis.port .. "/0", ca_bundle = redis.ca },
                            misnamed_lines)
    assert.equal(200, untrusted:request { method = "GET", route = ROUTE }.status_code)
    assert.equal(200, misnamed:request { method = "GET", route = ROUTE }.status_code)
    assert.same({ 1, 1 }, { untrusted.fleet.stats.lost, misnamed.fleet.stats.lost })
    assert.truthy(table.concat(untrusted_lines, "\n"):find("TLS handshake", 1, true))
    assert.truthy(table.concat(misnamed_lines, "\n"):find("certificate does not name localhost", 1, true))
    first:close(); second:close(); untrusted:close(); misnamed:close()
  end)
end)
