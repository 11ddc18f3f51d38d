--- `make bench-fleet` (and the end of `make bench`), the fleet figures (issues 18 and 23): a fleet of
-- processes on one Redis against the emulator with its rate limit scaled down (named on API answers only,
-- as the API does), beside the same fleet without coordination; a 429 in the middle of a run; a Redis
-- outage; then what coordination costs a call on loopback. Starts the emulator and a redis-server (the
-- specs' helpers) and always stops them. Writes bench/fleet-results.md.
--   lua5.4 bench/fleet.lua     (with LUA_PATH/LUA_CPATH of `make -s env`)
--   BENCH_FLEET_SECONDS=60 BENCH_FLEET_PROCESSES=4 BENCH_FLEET_TASKS=16 BENCH_FLEET_LIMIT=600
--   BENCH_FLEET_OUTAGE=12 (seconds Redis is down) BENCH_FLEET_CALLS=2000 (sequential calls, latency)
local cjson = require "cjson"
local core = require "falcon.core"
local emu = require "spec.helpers.emulator"
local redis_server = require "spec.helpers.redis"

local function setting(name, default) return tonumber(os.getenv(name) or "") or default end
local SECONDS = setting("BENCH_FLEET_SECONDS", 60)
local PROCESSES = setting("BENCH_FLEET_PROCESSES", 4)
local TASKS = setting("BENCH_FLEET_TASKS", 16)
local LIMIT = setting("BENCH_FLEET_LIMIT", 600)
local OUTAGE = setting("BENCH_FLEET_OUTAGE", 12)
local CALLS = setting("BENCH_FLEET_CALLS", 2000)
local ROUTE = "/message-center/queries/cases/v1"
local root = emu.script:match("^(.*)/emulator/falcon%-emulator$")
-- The fleet's steady rate (falcon.fleet: 96 % of the limit a minute) and its burst (2 %).
local RATE, BURST = LIMIT * 0.96 / 60, math.floor(LIMIT * 0.02)

-- Runs the fleet (redis_url or "none") in the background; `during(start)` runs meanwhile. Returns the
-- workers' reports and the epoch time they started at.
local function run_fleet(e, redis_url, processes, tasks, seconds, calls, permits, during)
  local dir = emu.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-fleet.XXXXXX\""):gsub("%s+$", "")
  local start = core.now() + 0.5
  local parts = {}
  for i = 1, processes do
    parts[i] = ("lua5.4 %s %s %s %s %s %d %s %d %.3f 1 %d >%s/%d.out 2>%s/%d.err &"):format(
      emu.quote(root .. "/spec/helpers/fleet_worker.lua"), emu.quote(e.url), e.client_id, e.client_secret,
      redis_url, tasks, seconds, calls, start, permits or 1, dir, i, dir, i)
  end
  emu.run("(" .. table.concat(parts, " ") .. " wait) >/dev/null 2>&1 & :")
  if during then during(start) end
  local reports = {}
  for _ = 1, 6000 do
    for i = 1, processes do
      local text = emu.read_file(dir .. "/" .. i .. ".out") or ""
      if text:find("\n") then reports[i] = cjson.decode(text) end
    end
    local done = 0
    for i = 1, processes do if reports[i] then done = done + 1 end end
    if done == processes then break end
    core.sleep(0.1)
  end
  for i = 1, processes do
    if not reports[i] then error("worker " .. i .. " failed: " .. (emu.read_file(dir .. "/" .. i .. ".err") or "")) end
  end
  emu.run("rm -rf " .. emu.quote(dir))
  return reports, start
end

-- The API calls in the emulator's log: {time, status}, by time.
local function api_calls(e)
  local calls = {}
  for _, entry in ipairs(e:requests()) do
    if entry.uri == ROUTE then calls[#calls + 1] = { time = entry.time, status = entry.status } end
  end
  table.sort(calls, function(a, b) return a.time < b.time end)
  return calls
end

-- Calls answered `status` (any, when nil) that arrived in [from, to).
local function count(calls, from, to, status)
  local n = 0
  for _, c in ipairs(calls) do
    if c.time >= from and c.time < to and (status == nil or c.status == status) then n = n + 1 end
  end
  return n
end

local function tokens(e)
  local n = 0
  for _, entry in ipairs(e:requests()) do if entry.uri == "/oauth2/token" then n = n + 1 end end
  return n
end

local function sum(reports, get)
  local total = 0
  for _, r in ipairs(reports) do total = total + get(r) end
  return total
end

local rows = {}
local function row(figure, value, baseline, target)
  rows[#rows + 1] = { figure, value, baseline or "", target or "report" }
  print(("%-70s %14s %14s  %s"):format(figure, value, baseline or "", target or "report"))
end

local function percent(x) return ("%.1f %%"):format(100 * x) end
local function pass(ok, target) return (ok and "PASS (" or "MISS (") .. target .. ")" end

local function fresh(e)
  e:control("reset", {})
  e:control("config", { rate_limit = { limit = LIMIT, window = 60 } })
end

-- 1. One rate window (scaled to SECONDS), coordinated and not: the share served, 429s, the cold start.
local function steady(e, redis)
  local window = math.min(SECONDS, 60)
  local budget = math.floor(LIMIT * window / 60)
  local fleet, started = run_fleet(e, redis.url, PROCESSES, TASKS, window, 100000)
  local calls, fleet_tokens = api_calls(e), tokens(e)
  local first = calls[1].time
  local cold = count(calls, first, first + 5, 200) / math.min(LIMIT, BURST + 1 + RATE * 5)
  fresh(e)
  local _, alone_started = run_fleet(e, "none", PROCESSES, TASKS, window, 100000)
  local alone = api_calls(e)
  local label = ("%d processes x %d tasks, %d/min, %d s"):format(PROCESSES, TASKS, LIMIT, window)
  local share = count(calls, started, started + window, 200) / budget
  row("share of the budget served (" .. label .. ")", percent(share),
      percent(count(alone, alone_started, alone_started + window, 200) / budget), pass(share >= 0.95, ">= 95 %"))
  local too_many = count(calls, 0, math.huge, 429)
  row("429 answers (the same run)", tostring(too_many), tostring(count(alone, 0, math.huge, 429)),
      pass(too_many == 0, "0"))
  row("cold start: calls in the first 5 s over what the budget allows (the token answer names no limit)",
      percent(cold))
  row("Redis round trips per API call (fleet run)",
      ("%.2f"):format(sum(fleet, function(r) return r.stats.round_trips end)
                      / math.max(1, sum(fleet, function(r) return r.calls end))))
  row("token requests (whole fleet)", tostring(fleet_tokens))
end

-- 2. A 429 in the middle of a run (the API named a time 3 s on): requests that arrive inside the pause,
-- after the ones already on their way (0.25 s), from any task of any process.
local function pause(e, redis)
  fresh(e)
  redis:cli("FLUSHALL")
  local faulted
  run_fleet(e, redis.url, PROCESSES, TASKS, 10, 100000, 1, function(start)
    core.sleep(start + 3 - core.now())
    faulted = core.now()
    e:control("faults", { route = ROUTE, status = 429, retry_after = 3, count = 1 })
  end)
  local calls = api_calls(e)
  local answered
  for _, c in ipairs(calls) do if c.status == 429 and c.time >= faulted then answered = c.time break end end
  local named = math.ceil(answered + 3) -- the emulator names the whole second after retry_after
  local inside = count(calls, answered + 0.25, named)
  local resumed
  for _, c in ipairs(calls) do if c.time > answered + 0.25 then resumed = c.time break end end
  row("a 429 naming 3 s: requests arriving inside the pause (after the first 0.25 s)", tostring(inside), "",
      pass(inside == 0, "0"))
  row("  429 answers in that run (the one named, and those already on their way)",
      tostring(count(calls, 0, math.huge, 429)))
  row("  first request after the pause, from the time named", ("%+.2f s"):format(resumed - named))
end

-- 3. Redis down for OUTAGE seconds (restarted empty) in a 30 s run, against one process alone (no
-- coordination) for the same time: 429s.
local function outage(e, redis)
  fresh(e)
  redis:cli("FLUSHALL")
  local down, back
  run_fleet(e, redis.url, PROCESSES, TASKS, OUTAGE + 18, 100000, 1, function(start)
    core.sleep(start + 8 - core.now())
    redis:kill()
    down = core.now()
    core.sleep(OUTAGE)
    redis:restart()
    back = core.now()
  end)
  local calls = api_calls(e)
  fresh(e)
  run_fleet(e, "none", 1, TASKS, OUTAGE, 100000)
  local alone = count(api_calls(e), 0, math.huge, 429)
  local during = count(calls, down, back, 429)
  row(("429 answers while Redis is down (%d s; alone: one process without coordination)"):format(OUTAGE),
      tostring(during), tostring(alone), pass(during < alone, "fewer than alone"))
  row("  429 answers after Redis came back empty (to the end of the run)",
      tostring(count(calls, back, math.huge, 429)), "", pass(count(calls, back, math.huge, 429) == 0, "0"))
  row("  calls while Redis was down, over the fleet's budget for that time",
      percent(count(calls, down, back) / (RATE * (back - down))))
  row("  calls in the 2 s after Redis came back empty, over the fleet's budget",
      percent(count(calls, back, back + 2) / (RATE * 2)))
end

-- 4. What coordination costs a call: one process, one task, sequential calls, a limit that never binds.
local function latency(e, redis)
  e:control("reset", {}); e:control("config", { rate_limit = { limit = 100000000, window = 60 } })
  -- Best of 5 for each, the three runs interleaved: the machines this runs on are noisy.
  local best = {}
  local runs = { with = { redis.url, 1 }, without = { "none", 1 }, batched = { redis.url, 4 } }
  for _ = 1, 5 do
    for _, name in ipairs({ "with", "without", "batched" }) do
      local r = run_fleet(e, runs[name][1], 1, 1, 600, CALLS, runs[name][2])[1]
      local each = r.latency / r.calls
      if not best[name] or each < best[name].latency then best[name] = { latency = each, stats = r.stats } end
    end
  end
  local with, without, batched = best.with, best.without, best.batched
  -- One round trip alone: a script through the plain-Lua client, in this process.
  local redis_link = require "falcon.fleet.redis"
  local link = redis_link.link(redis_link.settings { redis = redis.url })
  local blocking = require("falcon.drivers").blocking
  local script = redis_link.script("return redis.call('INCR', KEYS[1])", redis_link.shape.integer)
  assert(link:script(blocking, script, { "bench:rtt" }))
  local round_trip
  for _ = 1, 5 do
    local began = core.now()
    for _ = 1, CALLS do assert(link:script(blocking, script, { "bench:rtt" })) end
    local each = (core.now() - began) / CALLS
    round_trip = math.min(round_trip or each, each)
  end
  link:close()
  row(("latency per call, sequential (%d calls, best of 5)"):format(CALLS), ("%.1f us"):format(with.latency * 1e6),
      ("%.1f us"):format(without.latency * 1e6))
  row("added latency per call on loopback", ("%.1f us"):format((with.latency - without.latency) * 1e6))
  row("Redis round trips per API call (sequential)", ("%.2f"):format(with.stats.round_trips / CALLS))
  row("  the same with permits = 4: round trips per call, added latency",
      ("%.2f"):format(batched.stats.round_trips / CALLS), ("%.1f us"):format((batched.latency - without.latency) * 1e6))
  row("one EVALSHA round trip on loopback (luasocket RESP client, in process)", ("%.1f us"):format(round_trip * 1e6))
end

local e = emu.start { rate_limit = { limit = LIMIT, window = 60 }, log_limit = 200000 }
local redis = redis_server.start()
print(("%-70s %14s %14s  %s"):format("figure", "coordinated", "alone", "target"))
local ok, err = pcall(function()
  steady(e, redis)
  pause(e, redis)
  outage(e, redis)
  latency(e, redis)
end)
redis:stop()
e:stop()
if not ok then error(err, 0) end

local function machine()
  local function out(command) return (emu.run(command .. " 2>/dev/null"):gsub("%s+$", "")) end
  return ("%s CPUs (%s), %s, %s, %s, %s"):format(out("nproc"),
    out("sed -n 's/^model name\\s*: //p' /proc/cpuinfo | head -1"), out("uname -sr"), _VERSION,
    out("redis-server --version | cut -d' ' -f1-3"), out("date -u +%Y-%m-%dT%H:%MZ"))
end

local lines = { "# Fleet figures (`make bench-fleet`, bench/fleet.lua)", "", machine(), "",
                "| figure | coordinated | alone | target |", "|---|---|---|---|" }
for _, r in ipairs(rows) do lines[#lines + 1] = "| " .. table.concat(r, " | ") .. " |" end
local f = assert(io.open(root .. "/bench/fleet-results.md", "w"))
f:write(table.concat(lines, "\n"), "\n")
f:close()
