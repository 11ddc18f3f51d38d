-- falcon.EventStream with `coordination`: consumers in separate OS processes share one app id through
-- partition leases and checkpoints on a real redis-server, against the emulator's Event Streams. Together
-- they deliver every event once; a consumer killed with SIGKILL is replaced from its Redis checkpoint; a
-- consumer that loses Redis stops reading instead of risking a second reader, and carries on when it is back.
local core = require "falcon.core"
local emulator = require "spec.helpers.emulator"
local child = require "spec.helpers.child"
local redis_server = require "spec.helpers.redis"

-- A consumer: writes "<partition> <offset>" per event to v.out, for ever (the spec kills it).
local CONSUMER = [[
  local v = ...
  local falcon = require "falcon"
  local stream = falcon.EventStream {
    client_id = v.id, client_secret = v.secret, base_url = v.url, app_id = v.app,
    coordination = { redis = v.redis, timeout = 0.2, retry_interval = 0.2 },
    lease = { ttl = v.ttl, owner = v.owner }, backoff = { initial = 0.05, max = 0.2 },
  }
  local out = assert(io.open(v.out, "a"))
  for event, partition in stream:events() do
    out:write(partition, " ", event.metadata.offset, "\n")
    out:flush()
  end
]]

describe("falcon.EventStream with coordination (leases on Redis)", function()
  local e, redis, dir
  local apps, pids = 0, {}

  setup(function()
    e = emulator.start { streams = { partitions = 2, events = 100, rate = 0, keepalive = 0.1, refresh_interval = 30 } }
    redis = redis_server.start()
    dir = emulator.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-fleet-stream.XXXXXX\""):gsub("%s+$", "")
  end)
  teardown(function()
    for _, pid in ipairs(pids) do emulator.run("kill -KILL " .. pid .. " 2>/dev/null") end
    if redis then redis:stop() end
    if e then e:stop() end
    if dir then emulator.run("rm -rf " .. emulator.quote(dir)) end
  end)
  after_each(function()
    for _, pid in ipairs(pids) do emulator.run("kill -KILL " .. pid .. " 2>/dev/null") end
    pids = {}
  end)

  local function configure(streams)
    e:reset_streams(streams)
    apps = apps + 1
    return "fleet" .. apps
  end

  local function start(app, owner, ttl)
    local out = dir .. "/" .. app .. "-" .. owner .. ".out"
    local pid = child.spawn(CONSUMER, { id = e.client_id, secret = e.client_secret, url = e.url, app = app,
                                        redis = redis.url, ttl = ttl, owner = owner, out = out })
    pids[#pids + 1] = pid
    return pid, out
  end

  -- The events a consumer wrote: a list of {partition, offset}.
  local function events_in(out)
    local list = {}
    for p, offset in (emulator.read_file(out) or ""):gmatch("(%d) (%d+)") do
      list[#list + 1] = { tonumber(p), tonumber(offset) }
    end
    return list
  end

  local function wait_for(condition, seconds)
    local deadline = core.now() + seconds
    while core.now() < deadline do
      if condition() then return true end
      core.sleep(0.02)
    end
    return condition()
  end

  local function owner_of(app, p) return (redis:cli("GET", "falcon:{stream:" .. app .. "}:lease:" .. p):match("^(%a+)")) end

  -- Counts each (partition, offset) over the outputs; returns seen, repeats.
  local function tally(outs)
    local seen, repeats = { [0] = {}, [1] = {} }, 0
    for _, out in ipairs(outs) do
      for _, ev in ipairs(events_in(out)) do
        if seen[ev[1]][ev[2]] then repeats = repeats + 1 end
        seen[ev[1]][ev[2]] = true
      end
    end
    return seen, repeats
  end

  local function complete(outs, events)
    local seen = tally(outs)
    for p = 0, 1 do
      for offset = 1, events do if not seen[p][offset] then return false end end
    end
    return true
  end

  it("names the bad option before anything is sent", function()
    local falcon = require "falcon"
    local base = { client_id = e.client_id, client_secret = e.client_secret, base_url = e.url, app_id = "x" }
    local function opts(extra)
      local o = {}
      for k, v in pairs(base) do o[k] = v end
      for k, v in pairs(extra) do o[k] = v end
      return o
    end
    assert.has_error(function() falcon.EventStream(opts { coordination = { redis = redis.url }, checkpoint = "f" }) end,
      "falcon: EventStream: bad option 'checkpoint' (none with coordination (checkpoints are kept in Redis) expected, got one)")
    assert.has_error(function() falcon.EventStream(opts { coordination = { redis = redis.url }, lease = { ttl = 0 } }) end,
      "falcon: EventStream: bad option 'lease.ttl' (seconds in [0.2, 300] expected, got 0)")
    assert.has_error(function() falcon.EventStream(opts { lease = { ttl = 1 } }) end,
      "falcon: EventStream: bad option 'lease' (no lease without coordination expected, got table)")
    assert.has_error(function() falcon.EventStream(opts { coordination = { redis = "http://x" } }) end,
      "falcon: bad option 'coordination.redis' (a redis:// or rediss:// URL expected, got a string without one)")
  end)

  it("two consumers deliver every event exactly once, each partition read by one of them", function()
    local app = configure { partitions = 2, events = 300, rate = 300, keepalive = 0.1, refresh_interval = 30 }
    local _, out_a = start(app, "a", 2)
    local _, out_b = start(app, "b", 2)
    assert.is_true(wait_for(function() return complete({ out_a, out_b }, 300) end, 20), "every event delivered")
    local _, repeats = tally({ out_a, out_b })
    assert.are.equal(0, repeats)
    local readers = { [0] = {}, [1] = {} }
    for name, out in pairs { a = out_a, b = out_b } do
      local last = { [0] = 0, [1] = 0 }
      for _, ev in ipairs(events_in(out)) do
        assert.are.equal(last[ev[1]] + 1, ev[2], name .. ": partition " .. ev[1] .. " in order")
        last[ev[1]] = ev[2]
        readers[ev[1]][name] = true
      end
    end
    for p = 0, 1 do
      local n = 0
      for _ in pairs(readers[p]) do n = n + 1 end
      assert.are.equal(1, n, "partition " .. p .. " read by one consumer")
    end
  end)

  it("a consumer killed with SIGKILL is replaced from its Redis checkpoint within seconds", function()
    local app = configure { partitions = 2, events = 400, rate = 200, keepalive = 0.1, refresh_interval = 30 }
    local pid_a, out_a = start(app, "a", 1)
    assert.is_true(wait_for(function() return owner_of(app, 0) == "a" and owner_of(app, 1) == "a" end, 10))
    local _, out_b = start(app, "b", 1) -- a standby: every partition is a's
    assert.is_true(wait_for(function() return #events_in(out_a) >= 100 end, 10))
    emulator.run("kill -KILL " .. pid_a)
    local killed = core.now()
    local a_events = #events_in(out_a)
    assert.is_true(a_events < 800, "killed while events flowed")
    assert.is_true(wait_for(function() return #events_in(out_b) > 0 end, 10), "b took over")
    local takeover = core.now() - killed
    assert.is_true(takeover < 5, ("took over after %.2f s (lease ttl 1 s)"):format(takeover))
    assert.is_true(wait_for(function() return complete({ out_a, out_b }, 400) end, 20), "nothing lost")
    -- Only an event in a's loop body at the kill (handed out, not yet acknowledged) may come again.
    local _, repeats = tally({ out_a, out_b })
    assert.is_true(repeats <= 2, repeats .. " events repeated")
    assert.is_true(owner_of(app, 0) == "b" and owner_of(app, 1) == "b")
  end)

  it("stops reading while Redis is down (it cannot prove its leases), and carries on once it is back", function()
    local app = configure { partitions = 2, events = 500, rate = 100, keepalive = 0.1, refresh_interval = 30 }
    local pid, out = start(app, "a", 1)
    assert.is_true(wait_for(function() return #events_in(out) >= 40 end, 10))
    redis:kill()
    core.sleep(1.5) -- past the lease's ttl: reading has stopped
    local stopped_at = #events_in(out)
    core.sleep(1)
    assert.are.equal(stopped_at, #events_in(out), "no event read without a lease")
    assert.is_true(stopped_at < 1000)
    local _, code = emulator.run("kill -0 " .. pid)
    assert.are.equal(0, code, "the consumer is waiting, not dead")
    redis:restart() -- empty: the consumer resumes after what it acknowledged itself
    assert.is_true(wait_for(function() return complete({ out }, 500) end, 20), "nothing lost")
    local _, repeats = tally({ out })
    assert.are.equal(0, repeats)
  end)
end)
