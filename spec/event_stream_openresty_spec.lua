-- falcon.EventStream inside nginx (LuaJIT, the cosocket driver): the faults of spec/event_stream_spec.lua
-- through a request handler, and falcon.streams.nginx in 4 workers, where another worker takes the
-- stream over from the shared-dict checkpoint when the owner is killed.
local emulator = require "spec.helpers.emulator"
local openresty = require "spec.helpers.openresty"
local cases = require "spec.helpers.stream_cases"

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

  -- The hostile stream of spec/event_stream_spec.lua, read by a request handler (the cosocket driver).
  describe("against a hostile stream (cosocket driver)", function()
    local ngx_server, reader
    local checkpoint = require "falcon.streams.checkpoint"
    setup(function()
      local port = openresty.free_ports(1)[1]
      ngx_server = openresty.start { emu = e, extra = ([[
        server {
          listen 127.0.0.1:%d;
          location /read { content_by_lua_block { require("spec.helpers.ngx_stream_app").read("@DIR@/config.json") } }
        }
      ]]):format(port) }
      reader = setmetatable({ url = "http://127.0.0.1:" .. port, dir = ngx_server.dir }, getmetatable(ngx_server))
    end)
    teardown(function() ngx_server:stop() end)

    local apps = 0
    local function app_for(streams, faults)
      configure(streams)
      e:control("streams", { faults = faults })
      apps = apps + 1
      return "hostile" .. apps
    end
    -- One stream read in nginx: {events, error, stats, ...}; `query` adds to the request.
    local function read(app, take, query)
      local r = reader:get(("/read?app=%s&take=%d%s"):format(app, take, query or ""))
      assert.are.equal("cosocket", r.driver)
      return r
    end
    local function feeds() return e:control("streams", {}).feeds end

    it("backs off after a feed that ends at once (200, empty body): no storm", function()
      local app = app_for({ events = 20, rate = 0 }, { { kind = "empty", seconds = 3 } })
      local r = read(app, 40, "&initial=0.1&max=0.4")
      assert.is_nil(r.error)
      assert.are.equal(40, #r.events)
      assert.is_true(feeds() <= 60, feeds() .. " feed requests in about 3 s")
    end)

    it("refuses a refresh interval that is not whole seconds of at least 1, before reading a feed", function()
      for _, text in ipairs(cases.bad_intervals) do
        local r = read(app_for({ events = 5, rate = 0 }, { { kind = "interval", text = text } }), 10)
        assert.is_string(r.error, text .. " accepted (" .. #r.events .. " events)")
        assert.matches("refreshActiveSessionInterval", r.error, 1, true)
        assert.are.equal(0, feeds(), text)
      end
    end)

    it("ends with an error, never a checkpoint, on an offset or partition outside the whole numbers", function()
      for i, text in ipairs(cases.bad_offsets) do
        local app = app_for({ events = 6, rate = 0 }, { { kind = "offset", text = text, after = 3 } })
        local path = ("%s/offset%d.ckpt"):format(ngx_server.dir, i)
        local r = read(app, 12, "&checkpoint=" .. path)
        assert.is_string(r.error, text .. " accepted (" .. #r.events .. " events)")
        assert.matches("metadata.offset", r.error, 1, true)
        cases.delivered_first(r.events, r.error, 3)
        local saved, load_err = checkpoint.file(path).load() -- written by LuaJIT, read back here
        assert.is_table(saved, load_err)
        for p, offset in pairs(saved) do assert.is_true(offset >= 1 and offset <= 3, text .. ": " .. p .. " " .. offset) end
      end
      for _, text in ipairs(cases.bad_partitions) do
        local r = read(app_for({ events = 2, rate = 0 }, { { kind = "partition", text = text } }), 4)
        assert.is_string(r.error, text .. " accepted (" .. #r.events .. " events)")
        assert.matches("dataFeedURL", r.error, 1, true)
        assert.are.equal(0, feeds())
      end
    end)

    it("never sends a session token in clear text after a discovery over TLS", function()
      for _, urls in ipairs { { kind = "urls", feed = e.url }, { kind = "urls", refresh = e.url } } do
        local r = read(app_for({ events = 2, rate = 0 }, { urls }), 4, "&tls=1")
        assert.is_string(r.error, "read " .. #r.events .. " events")
        assert.matches("without TLS", r.error, 1, true)
        assert.are.equal(0, feeds())
      end
      local r = read(app_for({ events = 2, rate = 0 }, {}), 4, "&tls=1")
      assert.is_nil(r.error)
      assert.are.equal(4, #r.events)
    end)

    it("delivers the events before a bad line in the same read, then the error", function()
      for _, text in ipairs(cases.bad_lines) do
        local r = read(app_for({ events = 6, rate = 0 }, { { kind = "bad_line", text = text, after = 3 } }), 12,
          "&max_line=1024")
        assert.is_string(r.error, text:sub(1, 20) .. " accepted")
        cases.delivered_first(r.events, r.error, 3)
      end
    end)

    it("hands out nothing after stop()", function()
      local r = read(app_for({ events = 50, rate = 0 }, {}), 1, "&stop=1")
      assert.is_true(r.queued > 0, "nothing queued: the test would prove nothing")
      assert.is_nil(r.after_stop)
    end)

    it("times each refresh from the send of the one before, not from its late answer", function()
      local r = read(app_for(cases.slow_refresh.streams, cases.slow_refresh.faults), 800)
      assert.is_nil(r.error)
      cases.refreshed_from_send(e:control("streams", {}))
    end)
  end)

  it("stops at once when nginx is told to quit, however long its lease's naps (no look at exiting again)", function()
    configure { events = 100000, rate = 50, session_lifetime = 86400 }
    -- A lease of 30 s: its holder renews every 10 s, and waits that long between looks.
    local ngx_server = openresty.start { emu = e, workers = 1, extra = [[
      lua_shared_dict falcon_streams 1m;
      init_worker_by_lua_block {
        require("spec.helpers.ngx_stream_app").start("@DIR@/config.json", "@DIR@/events.out", 30)
      }
    ]] }
    local core = require "falcon.core"
    local out = ngx_server.dir .. "/events.out"
    for _ = 1, 500 do
      if #(emulator.read_file(out) or "") > 0 then break end
      core.sleep(0.01)
    end
    assert.is_true(#(emulator.read_file(out) or "") > 0, "no event came; nginx said:\n" .. ngx_server:errors())
    local pid = emulator.run("cat " .. emulator.quote(ngx_server.dir .. "/nginx.pid")):gsub("%s+$", "")
    local began = core.now()
    emulator.run("kill -QUIT " .. pid)
    local gone
    for _ = 1, 1500 do
      local _, alive = emulator.run("kill -0 " .. pid .. " 2>/dev/null")
      if alive ~= 0 then gone = core.now() - began break end
      core.sleep(0.01)
    end
    local errors = ngx_server:errors()
    ngx_server:stop()
    assert.is_not_nil(gone, "nginx still runs 15 s after QUIT; it said:\n" .. errors)
    assert.is_true(gone < 5, ("nginx took %.2f s to quit (its naps are 10 s)"):format(gone))
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
