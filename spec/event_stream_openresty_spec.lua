-- falcon.EventStream inside nginx (LuaJIT, the cosocket driver): the faults of spec/event_stream_spec.lua
-- through a request handler, and falcon.event_stream_nginx in 4 workers, where another worker takes the
-- stream over from the shared-dict checkpoint when the owner is killed.
local emulator = require "spec.helpers.emulator"
local openresty = require "spec.helpers.openresty"

local FEED = "/sensors/entities/datafeed/v1/*"
local REFRESH = "/sensors/entities/datafeed-actions/v1/*"

describe("falcon.EventStream in nginx", function()
  local e

  setup(function()
    e = emulator.start { streams = { partitions = 2, events = 150, rate = 0, keepalive = 0.2, refresh_interval = 30 } }
  end)
  teardown(function() e:stop() end)

  local function configure(streams)
    e:reset_streams(streams)
  end

  describe("through a handler (cosocket driver)", function()
    local ngx_server
    setup(function() ngx_server = openresty.start { emu = e } end)
    teardown(function() ngx_server:stop() end)

    -- Every event of both partitions once, in order; returns the stream's counters.
    local function consume(app, events)
      local r = ngx_server:get("/stream?app=" .. app .. "&events=" .. events)
      assert.is_nil(r.error)
      assert.are.equal("cosocket", r.driver)
      assert.are.same({}, r.problems)
      assert.are.same({ events, events }, r.last)
      return r.stats
    end

    it("delivers every event once and in order, refreshing before each deadline", function()
      configure { events = 150, rate = 120, refresh_interval = 1 }
      local stats = consume("ngx1", 150)
      local view = e:control("streams", {})
      assert.are.equal(0, view.missed_deadlines)
      for p = 1, 2 do assert.is_true(#view.refreshes[p] >= 2) end
      assert.is_true(stats.refreshes >= 4)
    end)

    it("resumes after cuts mid-line and 503s", function()
      configure { events = 150, rate = 0 }
      e:control("faults", { faults = { { route = FEED, kind = "truncate", bytes = 1000, count = 4 },
                                       { route = FEED, status = 503, count = 2 } } })
      local stats = consume("ngx2", 150)
      assert.is_true(stats.reconnects >= 6)
    end)

    it("discovers again when the sessions expire (401), and after a 401 fault", function()
      -- 2 s of events through sessions of 0.5 s: three expiries at least, however slow the machine.
      configure { events = 300, rate = 150, session_lifetime = 0.5 }
      e:control("faults", { route = FEED, status = 401, count = 1, every = 3 })
      local stats = consume("ngx3", 300)
      assert.is_true(stats.discoveries >= 3, stats.discoveries .. " discoveries")
    end)

    it("tries a refused refresh again before the deadline", function()
      configure { events = 150, rate = 100, refresh_interval = 1 }
      e:control("faults", { route = REFRESH, status = 500, count = 3 })
      consume("ngx4", 150)
      assert.are.equal(0, e:control("streams", {}).missed_deadlines)
    end)
  end)

  it("runs in one of 4 workers, and another takes over from the checkpoint when it is killed", function()
    configure { events = 300, rate = 100, session_lifetime = 86400 }
    local ngx_server = openresty.start { emu = e, workers = 4, extra = [[
      lua_shared_dict falcon_streams 1m;
      init_worker_by_lua_block {
        require("spec.helpers.ngx_stream_app").start("@DIR@/config.json", "@DIR@/events.out")
      }
    ]] }
    local out = ngx_server.dir .. "/events.out"
    local function lines()
      local list = {}
      for pid, p, offset in (emulator.read_file(out) or ""):gmatch("(%d+) (%d) (%d+)\n") do
        list[#list + 1] = { pid = pid, partition = tonumber(p), offset = tonumber(offset) }
      end
      return list
    end
    local core = require "falcon.core"
    local before
    for _ = 1, 500 do
      before = lines()
      if #before >= 80 then break end
      core.sleep(0.01)
    end
    local owner = before[#before].pid
    emulator.run("kill -KILL " .. owner)
    local after, finished
    for _ = 1, 2000 do
      after = lines()
      local last = { [0] = 0, [1] = 0 }
      for _, l in ipairs(after) do last[l.partition] = math.max(last[l.partition], l.offset) end
      finished = last[0] == 300 and last[1] == 300
      if finished then break end
      core.sleep(0.01)
    end
    local errors = ngx_server:errors()
    ngx_server:stop()
    assert.is_true(finished, "not every event came; nginx said:\n" .. errors)
    local seen, repeats, takers = { [0] = {}, [1] = {} }, 0, {}
    local last_by = {}
    for i, l in ipairs(after) do
      if seen[l.partition][l.offset] then repeats = repeats + 1 end
      seen[l.partition][l.offset] = true
      local key = l.pid .. ":" .. l.partition
      assert.is_true(l.offset > (last_by[key] or 0), "worker " .. l.pid .. " went back on partition " .. l.partition)
      last_by[key] = l.offset
      if i > #before and l.pid ~= owner then takers[l.pid] = true end
    end
    for p = 0, 1 do
      for offset = 1, 300 do assert.is_true(seen[p][offset], ("partition %d offset %d lost"):format(p, offset)) end
    end
    assert.is_true(repeats <= 1, repeats .. " events repeated")
    assert.is_not_nil(next(takers), "no other worker took over")
    -- Only the dead owner and one successor delivered: never two at once.
    local count = 0
    for _ in pairs(takers) do count = count + 1 end
    assert.are.equal(1, count)
  end)
end)
