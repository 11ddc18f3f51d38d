-- falcon.CaseWatch (mc:watch, uber:watch_cases, `falcon watch`) against the emulator, with CrowdStrike's
-- side played by its casework control route and the server's clock by its clock route: every change handed
-- over once, in order per case, through ties at the watermark (one second, across pages, across a
-- restart, a server clock hours from the client's), a change landing while a poll pages, 429s, 5xxs, cut
-- connections and expired tokens, a process killed with SIGKILL again and again, and a fleet on Redis.
-- (Plain Lua, blocking driver; the nginx form is in spec/case_watch_openresty_spec.lua.)
local core = require "falcon.core"
local emulator = require "spec.helpers.emulator"
local child = require "spec.helpers.child"
local falcon = require "falcon"

local QUERY = "/message-center/queries/cases/v1"

-- "kind case item at": one line per change, as the children write them and the specs compare them.
local function line_of(change)
  local item = change.activity or change.attachment
  return table.concat({ change.kind, change.case_id, item and item.id or "-", change.at }, " ")
end

-- Fails when a change was handed over twice; returns the lines.
local function once_each(changes)
  local lines, seen = {}, {}
  for i, change in ipairs(changes) do
    local l = type(change) == "string" and change or line_of(change)
    assert.is_nil(seen[l], "handed over twice: " .. l)
    seen[l], lines[i] = true, l
  end
  return lines
end

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

describe("falcon.CaseWatch", function()
  local e, mc, dir

  setup(function()
    e = emulator.start { seed = { cases = 12, max_activities = 2 } }
    dir = emulator.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-watch.XXXXXX\""):gsub("%s+$", "")
  end)
  teardown(function()
    if e then e:stop() end
    if dir then emulator.run("rm -rf " .. emulator.quote(dir)) end
  end)

  -- A fresh emulator (12 cases), the server's clock set as told; the ids of the cases, sorted.
  local function fresh(clock)
    e:control("reset", {})
    if clock then e:control("clock", clock) end
    mc = falcon.MessageCenter { client_id = e.client_id, client_secret = e.client_secret, base_url = e.url,
                                max_retries = 1, retry_backoff = 0.05, retry_backoff_max = 0.1 }
    return mc:query_cases { limit = 12, sort = "case.id.asc" }.body.resources
  end

  local function casework(actions) return e:control("casework", { actions = actions }).applied end
  local function reply(id, text) return { action = "reply", case_id = id, body = text } end
  local function update(id, set) return { action = "update", case_id = id, set = set } end
  local function server_now() return e:control("clock", {}).now end

  local function watch(options)
    options.interval, options.settle = options.interval or 0.05, options.settle or 1
    options.idle_timeout = options.idle_timeout or 1.2
    if options.sweep == nil then options.sweep = false end
    return mc:watch(options)
  end

  it("hands over a case opened, its fields changed, each reply, edit and attachment, once, in order", function()
    fresh { offset = -7200 } -- the server's clock two hours behind the client's
    e:control("casework", { after = 0.3, actions = { { action = "open", title = "Watched", type = "mdr", body = "b" } } })
    local w = watch {}
    local got = {}
    for change in w:changes() do
      got[#got + 1] = change
      local id = change.case_id
      if change.kind == "case_created" then
        casework { reply(id, "first reply"),
                   update(id, { status = "in_progress", title = "Watched closely",
                                detections = { { id = "ldt:1:1", url = "https://x" } } }),
                   { action = "attach", case_id = id, name = "notes.txt", content = "notes" } }
      elseif change.kind == "activity_added" then
        casework { { action = "edit", activity_id = change.activity.id, body = "first reply, edited" } }
      end
    end
    local kinds = {}
    for i, c in ipairs(got) do kinds[i] = c.kind end
    assert.are.same({ "case_created", "case_updated", "activity_added", "attachment_added", "activity_edited" }, kinds)
    once_each(got)
    assert.are.same({ from = "open", to = "in_progress" }, got[2].changed.status)
    assert.are.same({ from = "Watched", to = "Watched closely" }, got[2].changed.title)
    assert.are.same({ "ldt:1:1" }, got[2].changed.detections.to)
    assert.are.equal("CrowdStrike Support", got[1].case.assigner.display_name) -- a case CrowdStrike opened
    assert.are.equal("CrowdStrike Support", got[3].activity.created_by.display_name)
    assert.are.equal("first reply, edited", got[5].activity.body)
    assert.are.equal("notes.txt", got[4].attachment.name)
    assert.are.equal(5, w.stats.acknowledged)
  end)

  it("hands over each change once when several share the watermark's second, before and after a restart", function()
    -- The server's clock frozen two hours ahead of the client's: every change below has one timestamp.
    local ids = fresh { offset = 7200, freeze = true }
    local stored
    local checkpoint = { load = function() return stored end, save = function(text) stored = text return true end }
    e:control("casework", { after = 0.3, actions = { reply(ids[1], "a1") } })
    local w = watch { checkpoint = checkpoint }
    local got, all = {}, {}
    for change in w:changes() do
      all[#all + 1] = change
      if change.activity then got[#got + 1] = change end
      if #got == 1 and change.activity then
        -- The watch has polled in this second; more changes land in it, on that case and another.
        casework { reply(ids[1], "a2"), reply(ids[2], "b1") }
      elseif #got == 3 and change.activity then
        casework { { action = "edit", activity_id = got[1].activity.id, body = "a1 edited in its own second" } }
      end
    end
    once_each(all)
    assert.are.equal(6, #all) -- and a case_seen for each of the two cases (the watch had no memory of them)
    assert.are.equal(4, #got)
    assert.are.equal("activity_edited", got[4].kind)
    assert.are.equal(got[1].at, got[4].at) -- edited within the second it was written in
    for _, c in ipairs(got) do assert.are.equal(got[1].at, c.at) end
    -- A restart from the checkpoint, still in that second: only what is new comes.
    local again = watch { checkpoint = checkpoint }
    e:control("casework", { after = 0.3, actions = { reply(ids[2], "b2"), reply(ids[3], "c1") } })
    local more = {}
    for change in again:changes() do more[#more + 1] = change end
    assert.are.equal(3, #more, table.concat(once_each(more), "\n"))
    assert.are.equal("case_seen", table.remove(more, 2).kind) -- ids[3]'s first change: unknown before
    assert.are.same({ "b2", "c1" }, { more[1].activity.body, more[2].activity.body })
    assert.are.equal(got[1].at, more[1].at)
  end)

  it("hands over many cases changed in one second once, across page boundaries", function()
    local ids = fresh { freeze = true }
    local set = {}
    for i = 1, 8 do set[i] = update(ids[i], { status = "awaiting_customer" }) end
    local w = watch { batch = 3, since = iso(server_now() - 1) }
    casework(set)
    local got = {}
    for change in w:changes() do
      got[#got + 1] = change
      if #got == 4 then -- still that second: two of them change again, a case not yet listed too
        casework { update(ids[2], { title = "again" }), update(ids[7], { title = "again" }),
                   update(ids[10], { title = "again" }) }
      elseif #got == 11 then -- the second is settled now: the watermark passes it, and one more change
        e:control("clock", { advance = 3 })
        casework { reply(ids[11], "after") }
      end
    end
    once_each(got)
    -- 8 first sights (case_seen), 2 case_updated, 1 more case_seen, and the reply after: its case and itself
    assert.are.equal(13, #got)
    local count = {}
    for _, c in ipairs(got) do count[c.case_id] = (count[c.case_id] or 0) + 1 end
    for i = 1, 8 do assert.is_true(count[ids[i]] >= 1, "case " .. i .. " lost") end
    assert.is_true(w.stats.paged >= 1)
  end)

  it("loses nothing when a case leaves the filter while a poll pages through the others", function()
    local ids = fresh { freeze = true }
    local start = server_now()
    local set = {}
    for i = 1, 9 do set[i] = update(ids[i], { status = "in_progress" }) end
    casework(set)
    e:control("clock", { advance = 3 }) -- settled: the poll reads the window page by page
    -- The third listing request (the window's second page) waits 2.5 s; meanwhile the case with the
    -- smallest id is closed (it leaves the filter: every later id moves one place forward) and another
    -- gets a reply.
    e:control("faults", { route = QUERY, kind = "delay", delay = 2.5, every = 3, count = 1 })
    e:control("casework", { after = 1, actions = { update(ids[1], { status = "closed" }), reply(ids[5], "meanwhile") } })
    local w = watch { batch = 3, since = iso(start - 1), filter = "case.status:!'closed'", idle_timeout = 1.5 }
    local got = {}
    for change in w:changes() do got[#got + 1] = change end
    once_each(got)
    local updated, replied = {}, false
    for _, c in ipairs(got) do
      if c.kind == "case_updated" or c.kind == "case_seen" then updated[c.case_id] = true end
      if c.activity and c.activity.body == "meanwhile" then replied = true end
    end
    for i = 2, 9 do assert.is_true(updated[ids[i]], "case " .. i .. " lost") end
    assert.is_true(replied)
    assert.is_true(w.stats.paged >= 1)
    assert.is_true(w.stats.relisted >= 1, "the closing landed outside the poll's paging")
  end)

  it("hands over one change with both differences for a case modified twice between polls", function()
    local ids = fresh()
    e:control("casework", { after = 0.3, actions = { reply(ids[4], "ping") } })
    local w = watch { interval = 0.5 }
    local got = {}
    for change in w:changes() do
      got[#got + 1] = change
      if #got == 1 then -- between two polls: two changes, two requests
        local status = change.case.status == "closed" and "open" or "closed"
        casework { update(ids[4], { status = status }) }
        casework { update(ids[4], { title = "Done" }) }
      end
    end
    assert.are.equal(3, #got) -- case_seen, activity_added, then one case_updated with both
    assert.are.equal("case_updated", got[3].kind)
    assert.are.equal(got[1].case.status, got[3].changed.status.from)
    assert.are.equal("Done", got[3].changed.title.to)
  end)

  it("resumes after SIGKILL at any point: nothing lost, at most the change in hand again", function()
    local ids = fresh()
    local source = [[
      local v = ...
      local falcon = require "falcon"
      local mc = falcon.MessageCenter { client_id = v.id, client_secret = v.secret, base_url = v.url }
      local watch = mc:watch { interval = 0.05, settle = 1, idle_timeout = v.idle, sweep = false, since = v.since,
                               checkpoint = v.dir .. "/watch.ckpt" }
      local out = assert(io.open(v.dir .. "/" .. v.out, "a"))
      for change in watch:changes() do
        local item = change.activity or change.attachment
        out:write(change.kind, " ", change.case_id, " ", item and item.id or "-", " ", change.at, "\n")
        out:flush()
      end
    ]]
    local run_dir = dir .. "/kill"
    emulator.run("rm -rf " .. emulator.quote(run_dir) .. "; mkdir -p " .. emulator.quote(run_dir))
    local values = { id = e.client_id, secret = e.client_secret, url = e.url, dir = run_dir, idle = 600,
                     since = iso(server_now() - 1), out = "run1.out" }
    local pid = child.spawn(source, values)
    local expected, kills = {}, 0
    for i = 1, 36 do
      local id = ids[i % 6 + 1]
      local applied = casework { reply(id, "reply " .. i) }
      expected[applied[1].id] = true
      core.sleep(0.02 + (i % 5) * 0.015)
      if i % 9 == 0 then -- kill it wherever it is (polling, writing, saving) and start another
        emulator.run("kill -KILL " .. pid)
        kills = kills + 1
        values.out = "run" .. (kills + 1) .. ".out"
        pid = child.spawn(source, values)
      end
    end
    emulator.run("kill -KILL " .. pid)
    values.out, values.idle = "last.out", 2
    local code, _, stderr = child.run(source, values, 60)
    assert.are.equal(0, code, stderr)
    local count, repeats = {}, 0
    for k = 1, kills + 2 do
      local name = k <= kills + 1 and ("run" .. k .. ".out") or "last.out"
      for item in (emulator.read_file(run_dir .. "/" .. name) or ""):gmatch("activity_added %x+ (%x+) ") do
        if count[item] then repeats = repeats + 1 end
        count[item] = (count[item] or 0) + 1
      end
    end
    for item in pairs(expected) do assert.is_truthy(count[item], "reply " .. item .. " lost") end
    -- One kill after the loop too: each may give back the one change it had handed out.
    assert.is_true(repeats <= kills + 1, repeats .. " repeated over " .. (kills + 1) .. " kills")
  end)

  it("loses and repeats nothing through 5xx, 429, cut connections and an expired token, without a storm", function()
    local ids = fresh()
    e:control("faults", { faults = {
      { route = "/message-center/entities/cases/GET/v1", status = 503, count = 3 },
      { route = "/message-center/queries/case-activities/v1", status = 429, count = 3, retry_after = 0.2 },
      { route = "/message-center/entities/case-activities/GET/v1", kind = "reset", count = 2 },
      { route = QUERY, kind = "truncate", count = 2 },
    } })
    e:control("casework", { after = 0.2, actions = { reply(ids[1], "one"), reply(ids[2], "two") } })
    local w = watch { backoff = { initial = 0.05, max = 0.5 }, idle_timeout = 2.5 }
    local got = {}
    for change in w:changes() do
      got[#got + 1] = change
      if #got == 2 then
        e:control("tokens", { expire = "all" })
        casework { reply(ids[3], "three") }
      elseif #got == 5 then -- an outage of the listing: every poll fails for 1.5 s
        e:clear_log()
        e:control("faults", { route = QUERY, status = 500, count = -1 })
        e:control("casework", { after = 0.5, actions = { reply(ids[4], "during the outage") } })
        emulator.run("(sleep 1.5; curl -s -X POST -d '{\"clear\": true}' " .. emulator.quote(e.url .. "/_emulator/faults")
          .. " >/dev/null) >/dev/null 2>&1 & :")
      end
    end
    local outage = 0
    for _, r in ipairs(e:requests()) do if r.uri == QUERY and r.status == 500 then outage = outage + 1 end end
    once_each(got)
    local bodies = {}
    for _, c in ipairs(got) do if c.activity then bodies[#bodies + 1] = c.activity.body end end
    assert.are.same({ "one", "two", "three", "during the outage" }, bodies)
    -- Polls every 50 ms would send 60 listings in the outage (a retry each); the backoff sends a few.
    assert.is_true(w.stats.failures >= 3, w.stats.failures .. " failed polls")
    assert.is_true(outage >= 3 and outage < 30, outage .. " listings in the outage")
  end)

  it("finds a reply that does not move its case's last_modified_time with a sweep, and only then", function()
    local ids = fresh()
    e:control("config", { activity_moves_case = false })
    e:control("casework", { after = 0.3, actions = { reply(ids[6], "quiet") } })
    local blind = watch { idle_timeout = 1.5 }
    local unseen = 0
    for _ in blind:changes() do unseen = unseen + 1 end
    assert.are.equal(0, unseen) -- no sweep: the listing never shows that case
    local w = watch { interval = 0.1, sweep = 0.5, since = iso(server_now() - 5), idle_timeout = 1.5 }
    local got = {}
    for change in w:changes() do got[#got + 1] = change end
    once_each(got)
    assert.are.equal(1, #got) -- the reply alone (a sweep reports what moves no case: activities)
    assert.are.equal("activity_added", got[1].kind)
    assert.are.equal("quiet", got[1].activity.body)
    assert.is_true(w.stats.sweeps >= 2)
  end)

  it("is the same from the Uber class, and from `falcon watch` as NDJSON", function()
    local ids = fresh()
    local uber = falcon.APIHarnessV2 { client_id = e.client_id, client_secret = e.client_secret, base_url = e.url }
    e:control("casework", { after = 0.3, actions = { reply(ids[2], "to uber") } })
    local w = uber:watch_cases { interval = 0.05, settle = 1, idle_timeout = 1, sweep = false }
    local kinds = {}
    w:run(function(change) kinds[#kinds + 1] = change.kind end)
    assert.are.same({ "case_seen", "activity_added" }, kinds)
    e:control("casework", { after = 1, actions = { reply(ids[3], "to the shell") } })
    local out, code = emulator.run("FALCON_CLIENT_ID=" .. e.client_id .. " FALCON_CLIENT_SECRET=" .. e.client_secret
      .. " FALCON_BASE_URL=" .. emulator.quote(e.url) .. " timeout 30 " .. require("spec.helpers.spawn").lua_command()
      .. " bin/falcon watch --interval 0.05 --idle-timeout 2 --sweep off 2>&1")
    assert.are.equal(0, code, out)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = require("cjson").decode(l) end
    assert.are.equal(2, #lines, out)
    assert.are.equal("activity_added", lines[2].kind)
    assert.are.equal("to the shell", lines[2].activity.body)
    assert.are.equal(ids[3], lines[2].case_id)
  end)

  it("does not acknowledge a change whose handler failed: the next watch hands it over again", function()
    local ids = fresh()
    local stored
    local checkpoint = { load = function() return stored end, save = function(text) stored = text return true end }
    e:control("casework", { after = 0.3, actions = { reply(ids[5], "handled twice") } })
    local w = watch { checkpoint = checkpoint }
    local calls = 0
    local ok, err = pcall(w.run, w, function(change)
      calls = calls + 1
      if change.activity then error("ticket system down") end
    end)
    assert.is_false(ok)
    assert.matches("ticket system down", err)
    assert.is_true(w.stopped)
    assert.are.equal(2, calls) -- case_seen acknowledged, the reply not
    local again = {}
    watch({ checkpoint = checkpoint, idle_timeout = 1 }):run(function(change) again[#again + 1] = change end)
    assert.are.equal(1, #again)
    assert.are.equal("handled twice", again[1].activity.body)
  end)

  it("refuses bad options, and a checkpoint that is not this watch's, before anything is sent", function()
    fresh()
    assert.has_error(function() mc:watch { interval = "fast" } end,
      "falcon: CaseWatch: bad option 'interval' (seconds >= 0.05 expected, got fast)")
    assert.has_error(function() mc:watch { intervall = 1 } end)
    assert.has_error(function() mc:watch { since = "yesterday" } end)
    assert.has_error(function() mc:watch { batch = 501 } end)
    assert.has_error(function() mc:watch { checkpoint = 5 } end)
    assert.has_error(function() mc.watch { } end)
    local cloud = falcon.MessageCenter { client_id = e.client_id, client_secret = e.client_secret, base_url = "us-2" }
    assert.has_error(function() cloud:watch { interval = 1 } end,
      "falcon: CaseWatch: bad option 'interval' (seconds >= 5 expected, got 1)")
    local stored
    local checkpoint = { load = function() return stored end, save = function(text) stored = text return true end }
    local first = watch { checkpoint = checkpoint, filter = "case.status:'open'", idle_timeout = 0.2 }
    for _ in first:changes() do end
    assert.is_string(stored)
    local other = watch { checkpoint = checkpoint, filter = "case.status:'closed'", idle_timeout = 0.2 }
    local ok, err = pcall(function() for _ in other:changes() do end end)
    assert.is_false(ok)
    assert.matches("checkpoint belongs to a watch of another filter", err)
    stored = "{not json"
    ok, err = pcall(function() for _ in watch { checkpoint = checkpoint, filter = "case.status:'open'" }:changes() do end end)
    assert.is_false(ok)
    assert.matches("not a case watch's", err)
    -- A filter the API refuses ends the loop with the API's reason.
    ok, err = pcall(function() for _ in watch { filter = "case.nope:'x'" }:changes() do end end)
    assert.is_false(ok)
    assert.matches("refused the query", err)
  end)

  it("runs as a task of falcon.parallel (the curl multi driver), sleeping without holding the others", function()
    local ids = fresh()
    local driver = require "falcon.drivers"
    local seen, drivers = {}, {}
    local _, errs = falcon.parallel({
      function()
        local w = watch { idle_timeout = 1.5 }
        w:run(function(change) -- (Lua 5.1 cannot yield from a generic for's iterator: run() can)
          seen[#seen + 1] = change.kind
          drivers[#drivers + 1] = driver.current().name
        end)
      end,
      function() -- meanwhile, another task of the same scheduler: a request, a pause, a reply to watch
        mc:query_cases { limit = 1 }
        driver.current().sleep(0.4)
        casework { reply(ids[2], "while you wait") }
      end,
    })
    assert.is_nil(errs)
    assert.are.same({ "case_seen", "activity_added" }, seen)
    assert.are.same({ "multi", "multi" }, drivers)
  end)

  it("ends with a clear error, handing nothing over, when the API's answer is not one", function()
    local ids = fresh()
    local cases_route = "/message-center/entities/cases/GET/v1"
    local broken = {
      { { route = QUERY, kind = "headers", headers = { Date = "yesterday" } }, "without a Date header" },
      { { route = QUERY, kind = "rewrite", set = { ["meta.pagination.total"] = "lots" } }, "total is not a count" },
      { { route = QUERY, kind = "rewrite", set = { ["resources.1"] = 42 } }, "id that is not one" },
      { { route = cases_route, kind = "rewrite", set = { ["resources.1.last_modified_time"] = "soon" } },
        "last_modified_time \"soon\", which is not a timestamp" },
      { { route = cases_route, kind = "rewrite", set = { resources = "none" } }, "without a resources list" },
    }
    for _, case in ipairs(broken) do
      e:control("faults", { clear = true })
      casework { reply(ids[1], "x") }
      local w = watch { since = iso(server_now() - 2) }
      e:control("faults", { faults = { case[1] } })
      local handed = 0
      local ok, err = pcall(function() for _ in w:changes() do handed = handed + 1 end end)
      assert.is_false(ok, case[2])
      assert.matches(case[2], tostring(err), 1, true)
      assert.matches("^falcon: CaseWatch: ", tostring(err))
      assert.are.equal(0, handed)
    end
    e:control("faults", { clear = true })
    local damaged = '{"v":1,"filter":"","w":1,"cases":{"x":{"a":"no","l":1,"t":{}}}}'
    local w = watch { checkpoint = { load = function() return damaged end, save = function() return true end } }
    local ok, err = pcall(function() for _ in w:changes() do end end)
    assert.is_false(ok)
    assert.matches("entry for case x is damaged", err, 1, true)
  end)
end)

describe("falcon.CaseWatch with coordination (a lease on Redis)", function()
  local redis_server = require "spec.helpers.redis"
  local e, redis, dir
  local pids = {}

  -- A watcher: writes "<owner> <change line>" per change, until killed or idle.
  local WATCHER = [[
    local v = ...
    local falcon = require "falcon"
    local mc = falcon.MessageCenter { client_id = v.id, client_secret = v.secret, base_url = v.url,
      coordination = { redis = v.redis, timeout = 0.2, retry_interval = 0.2, prefix = "casewatch-spec" } }
    local watch = mc:watch { interval = 0.05, settle = 1, sweep = false, since = v.since, idle_timeout = v.idle,
                             lease = { ttl = 1, owner = v.owner } }
    local out = assert(io.open(v.out, "a"))
    for change in watch:changes() do
      local item = change.activity or change.attachment
      out:write(v.owner, " ", change.kind, " ", change.case_id, " ", item and item.id or "-", "\n")
      out:flush()
    end
  ]]

  setup(function()
    e = emulator.start { seed = { cases = 6, max_activities = 1 } }
    redis = redis_server.start()
    dir = emulator.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-watch-fleet.XXXXXX\""):gsub("%s+$", "")
  end)
  teardown(function()
    for _, pid in ipairs(pids) do emulator.run("kill -KILL " .. pid .. " 2>/dev/null") end
    if redis then redis:stop() end
    if e then e:stop() end
    if dir then emulator.run("rm -rf " .. emulator.quote(dir)) end
  end)

  it("has one watcher polling; another takes over within seconds of its death, losing nothing", function()
    local mc = falcon.MessageCenter { client_id = e.client_id, client_secret = e.client_secret, base_url = e.url }
    local ids = mc:query_cases { limit = 6, sort = "case.id.asc" }.body.resources
    local since = iso(e:control("clock", {}).now - 1)
    local function start(owner, idle)
      local pid = child.spawn(WATCHER, { id = e.client_id, secret = e.client_secret, url = e.url, redis = redis.url,
                                         since = since, owner = owner, idle = idle or 600, out = dir .. "/fleet.out" })
      pids[#pids + 1] = pid
      return pid
    end
    local first = start("a")
    core.sleep(0.5) -- a holds the lease
    start("b")
    local expected = {}
    local function replies(from, to)
      for i = from, to do
        expected[e:control("casework", { actions = { { action = "reply", case_id = ids[i % 6 + 1], body = "r" .. i } } })
          .applied[1].id] = true
        core.sleep(0.05)
      end
    end
    replies(1, 12)
    core.sleep(1.5)
    emulator.run("kill -KILL " .. first)
    local killed_at = core.now()
    replies(13, 24)
    -- b takes over within the lease's ttl (1 s) and some; wait until every reply is handed over.
    local text
    for _ = 1, 200 do
      text = emulator.read_file(dir .. "/fleet.out") or ""
      local done = true
      for id in pairs(expected) do if not text:find(id, 1, true) then done = false break end end
      if done then break end
      core.sleep(0.05)
    end
    local by_owner, count, repeats = { a = 0, b = 0 }, {}, 0
    local before_kill = true
    for owner, kind, item in text:gmatch("(%a) (%S+) %x+ (%S+)\n") do
      by_owner[owner] = by_owner[owner] + 1
      if owner == "b" then before_kill = false end
      assert.is_true(owner == "b" or before_kill, "a wrote after b took over")
      if kind == "activity_added" then
        if count[item] then repeats = repeats + 1 end
        count[item] = (count[item] or 0) + 1
      end
    end
    for id in pairs(expected) do assert.is_truthy(count[id], "reply " .. id .. " lost") end
    assert.is_true(by_owner.a > 0 and by_owner.b > 0)
    assert.is_true(repeats <= 1, repeats .. " repeated")
    assert.is_true(core.now() - killed_at < 10)
  end)
end)
