--- `make bench`, the case watch figures (issue 28): what a falcon.CaseWatch spends in API requests, counted
-- in the emulator's request log. Writes bench/watch-results.md.
--   lua5.4 bench/watch.lua     (with LUA_PATH/LUA_CPATH of `make -s env`)
--   BENCH_WATCH_CASES=200 (cases seeded: what a sweep looks at)  BENCH_WATCH_POLLS=40
-- Requests, not time, are what a watch costs a tenant (its rate budget), and they do not depend on the
-- machine: polls run at a short interval here and are scaled to the default one.
local CaseWatch = require "falcon.watch.case_watch"
local emu = require "spec.helpers.emulator"
local falcon = require "falcon"

local CASES = tonumber(os.getenv("BENCH_WATCH_CASES") or "") or 200
local POLLS = tonumber(os.getenv("BENCH_WATCH_POLLS") or "") or 40
local INTERVAL = 0.05

local e = emu.start { seed = { cases = CASES, max_activities = 3 } }
local ok, failure = pcall(function()
  local mc = falcon.MessageCenter { client_id = e.client_id, client_secret = e.client_secret, base_url = e.url }
  local ids = mc:query_cases { limit = 500, sort = "case.id.asc" }.body.resources
  local function api_requests()
    local n = 0
    for _, r in ipairs(e:requests()) do if r.uri:find("^/message%-center/") then n = n + 1 end end
    return n
  end
  -- A watch that has begun (its first poll read the server's clock; its memory in `stored`): returns a
  -- maker of watches that resume from there, with more options. The log is cleared after it.
  local function begun(options)
    local stored
    options.checkpoint = { load = function() return stored end, save = function(text) stored = text return true end }
    options.interval, options.settle, options.sweep = INTERVAL, 1, options.sweep or false
    local function resume(more)
      local o = {}
      for k, v in pairs(options) do o[k] = v end
      for k, v in pairs(more) do o[k] = v end
      return mc:watch(o)
    end
    for _ in resume({ deadline = 0.3 }):changes() do end
    e:clear_log()
    return resume
  end
  local rows = {}
  -- 1. No change: polls only.
  local idle = begun {} { deadline = POLLS * INTERVAL }
  for _ in idle:changes() do end
  local per_poll = api_requests() / idle.stats.polls
  rows[#rows + 1] = { "requests per poll, no change", per_poll }
  rows[#rows + 1] = { ("requests per hour, no change, interval %d s, no sweep"):format(CaseWatch.DEFAULT_INTERVAL),
                      per_poll * 3600 / CaseWatch.DEFAULT_INTERVAL }
  -- 2. One sweep over every case of the filter (default: once an hour).
  local sweeping = begun { sweep = INTERVAL } { deadline = 1.5 } -- the log keeps 5,000 entries
  for _ in sweeping:changes() do end
  assert(sweeping.stats.sweeps > 0, "no sweep")
  local swept = (api_requests() - (sweeping.stats.polls - sweeping.stats.sweeps) * per_poll) / sweeping.stats.sweeps
  rows[#rows + 1] = { ("requests per sweep (%d cases): per hour with the default sweep"):format(#ids), swept }
  -- 3. Changes: 20 replies on 20 cases, then 20 replies on one case, each set landing between two polls.
  -- Polls 1.5 s apart with settle = 1 s: a case is listed again at most once after its change (with the
  -- defaults, 30 s and 5 s, only when it changed within 5 s before a poll), so this is the upper bound.
  for _, spread in ipairs { { "20 replies on 20 cases", 20 }, { "20 replies on one case", 1 } } do
    local watch = begun {} { idle_timeout = 3.5, interval = 1.5 }
    local actions = {}
    for i = 1, 20 do actions[i] = { action = "reply", case_id = ids[(i % spread[2]) + 1], body = "r" .. i } end
    e:control("casework", { actions = actions })
    local handed = 0
    for change in watch:changes() do if change.kind == "activity_added" then handed = handed + 1 end end
    assert(handed == 20, "the watch handed over " .. handed .. " replies of 20")
    local spent = api_requests() - per_poll * watch.stats.polls
    rows[#rows + 1] = { "requests per reply handed over: " .. spread[1], spent / handed,
                        ("%d changes (the replies, first sights of their cases); at most one more listing"):format(
                          watch.stats.changes) }
  end
  return rows
end)
e:stop()
if not ok then error(failure, 0) end

local lines = { "# Case watch: requests spent (`make bench`, bench/watch.lua)", "",
  ("Emulator with %d cases; polls every %.2f s here, scaled to the default interval of %d s. Counted in the "
    .. "emulator's request log (Message Center routes)."):format(CASES, INTERVAL, CaseWatch.DEFAULT_INTERVAL), "",
  "| figure | value | note |", "|---|---|---|" }
for _, row in ipairs(failure) do
  lines[#lines + 1] = ("| %s | %.1f | %s |"):format(row[1], row[2], row[3] or "")
  print(("%-75s %8.1f %s"):format(row[1], row[2], row[3] or ""))
end
local root = emu.script:match("^(.*)/emulator/falcon%-emulator$")
local f = assert(io.open(root .. "/bench/watch-results.md", "w"))
f:write(table.concat(lines, "\n"), "\n")
f:close()
