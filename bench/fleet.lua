--- `make bench`, the fleet figures (issue 18): a fleet of processes on one Redis against the emulator with
-- its rate limit scaled down, beside the same fleet without coordination; then what coordination costs a
-- call on loopback. Starts the emulator and a redis-server (the specs' helpers) and always stops them.
-- Writes bench/fleet-results.md.
--   lua5.4 bench/fleet.lua     (with LUA_PATH/LUA_CPATH of `make -s env`)
--   BENCH_FLEET_SECONDS=60 BENCH_FLEET_PROCESSES=4 BENCH_FLEET_TASKS=16 BENCH_FLEET_LIMIT=600
--   BENCH_FLEET_CALLS=2000 (sequential calls for the latency figure)
local cjson = require "cjson"
local core = require "falcon.core"
local emu = require "spec.helpers.emulator"
local redis_server = require "spec.helpers.redis"

local function setting(name, default) return tonumber(os.getenv(name) or "") or default end
local SECONDS = setting("BENCH_FLEET_SECONDS", 60)
local PROCESSES = setting("BENCH_FLEET_PROCESSES", 4)
local TASKS = setting("BENCH_FLEET_TASKS", 16)
local LIMIT = setting("BENCH_FLEET_LIMIT", 600)
local CALLS = setting("BENCH_FLEET_CALLS", 2000)
local ROUTE = "/message-center/queries/cases/v1"
local root = emu.script:match("^(.*)/emulator/falcon%-emulator$")

-- Runs the fleet (redis_url or "none") and returns the workers' reports.
local function run_fleet(e, redis_url, processes, tasks, seconds, calls, permits)
  local dir = emu.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-fleet.XXXXXX\""):gsub("%s+$", "")
  local start = core.now() + 0.5
  local parts = {}
  for i = 1, processes do
    parts[i] = ("lua5.4 %s %s %s %s %s %d %s %d %.3f 1 %d >%s/%d.out 2>%s/%d.err &"):format(
      emu.quote(root .. "/spec/helpers/fleet_worker.lua"), emu.quote(e.url), e.client_id, e.client_secret,
      redis_url, tasks, seconds, calls, start, permits or 1, dir, i, dir, i)
  end
  emu.run(table.concat(parts, " ") .. " wait")
  local reports = {}
  for i = 1, processes do
    local text = emu.read_file(dir .. "/" .. i .. ".out") or ""
    if not text:find("\n") then error("worker " .. i .. " failed: " .. (emu.read_file(dir .. "/" .. i .. ".err") or "")) end
    reports[i] = cjson.decode(text)
  end
  emu.run("rm -rf " .. emu.quote(dir))
  return reports, start
end

-- From the emulator's log: API calls answered 200 within the first rate window, 429s and token requests.
local function count(e, start, window)
  local ok, too_many, tokens = 0, 0, 0
  for _, entry in ipairs(e:requests()) do
    if entry.status == 429 then too_many = too_many + 1 end
    if entry.uri == "/oauth2/token" then tokens = tokens + 1 end
    if entry.uri == ROUTE and entry.status == 200 and entry.time < start + window then ok = ok + 1 end
  end
  return ok, too_many, tokens
end

local function sum(reports, get)
  local total = 0
  for _, r in ipairs(reports) do total = total + get(r) end
  return total
end

local rows = {}
local function row(figure, value, baseline, target)
  rows[#rows + 1] = { figure, value, baseline or "", target or "report" }
  print(("%-58s %14s %14s  %s"):format(figure, value, baseline or "", target or "report"))
end

local e = emu.start { rate_limit = { limit = LIMIT, window = 60 }, log_limit = 200000 }
local redis = redis_server.start()
local ok, err = pcall(function()
  -- 1. The budget: one rate window (scaled to SECONDS), coordinated and not.
  local window = math.min(SECONDS, 60)
  local budget = math.floor(LIMIT * window / 60)
  local fleet, started = run_fleet(e, redis.url, PROCESSES, TASKS, window, 100000)
  local done, too_many, tokens = count(e, started, window)
  e:control("reset", {}); e:control("config", { rate_limit = { limit = LIMIT, window = 60 } })
  local _, alone_started = run_fleet(e, "none", PROCESSES, TASKS, window, 100000)
  local alone_done, alone_too_many, alone_tokens = count(e, alone_started, window)
  local label = ("%d processes x %d tasks, %d/min, %d s"):format(PROCESSES, TASKS, LIMIT, window)
  print(("%-58s %14s %14s  %s"):format("figure", "coordinated", "alone", "target"))
  row("share of the budget completed (" .. label .. ")", ("%.1f %%"):format(100 * done / budget),
      ("%.1f %%"):format(100 * alone_done / budget), 100 * done / budget >= 95 and "PASS (>= 95 %)" or "MISS (>= 95 %)")
  row("429 answers", tostring(too_many), tostring(alone_too_many), too_many == 0 and "PASS (0)" or "MISS (0)")
  local calls = sum(fleet, function(r) return r.calls end)
  row("Redis round trips per API call (fleet run)",
      ("%.2f"):format(sum(fleet, function(r) return r.stats.round_trips end) / math.max(1, calls)))
  row("token requests (whole fleet)", tostring(tokens), tostring(alone_tokens))

  -- 2. What coordination costs a call: one process, one task, sequential calls, a limit that never binds.
  e:control("reset", {}); e:control("config", { rate_limit = { limit = 100000000, window = 60 } })
  -- Best of 5 for each, the three runs interleaved: the machines this runs on are noisy.
  local best = {}
  local runs = { with = { redis.url, 1 }, without = { "none", 1 }, batched = { redis.url, 4 } }
  for _ = 1, 5 do
    for _, name in ipairs({ "with", "without", "batched" }) do
      local r = run_fleet(e, runs[name][1], 1, 1, 600, CALLS, runs[name][2])[1]
      local latency = r.latency / r.calls
      if not best[name] or latency < best[name].latency then best[name] = { latency = latency, stats = r.stats } end
    end
  end
  local with, without, batched = best.with, best.without, best.batched
  -- One round trip alone: the budget script through the plain-Lua client, in this process.
  local redis_link = require "falcon.redis"
  local link = redis_link.link(redis_link.settings { redis = redis.url })
  local blocking = require("falcon.driver").blocking
  local script = "return redis.call('INCR', KEYS[1])"
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

local lines = { "# Fleet figures (`make bench`, bench/fleet.lua)", "", machine(), "",
                "| figure | coordinated | alone | target |", "|---|---|---|---|" }
for _, r in ipairs(rows) do lines[#lines + 1] = "| " .. table.concat(r, " | ") .. " |" end
local f = assert(io.open(root .. "/bench/fleet-results.md", "w"))
f:write(table.concat(lines, "\n"), "\n")
f:close()
