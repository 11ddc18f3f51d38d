-- No component waits by polling (issue 25): a task that waits for another task waits on the driver's
-- queue, woken by whoever changes what it waits for; a sleep is a wait for a time (a backoff, a pause, a
-- slot, a renewal time). Checked twice: every sleep in lua/ is one listed below with the time it waits
-- for, and a stream read under leases through a full queue and new discoveries (the three sleep-polls
-- the stream had) waits for no short time again and again.
local core = require "falcon.core"
local emulator = require "spec.helpers.emulator"
local redis_server = require "spec.helpers.redis"

-- Every sleep in lua/: file -> {function -> how many, and the time it waits for}. A sleep elsewhere fails.
local SLEEPS = {
  ["lua/falcon/client/init.lua"] = {
    ["Client:_pace"] = { 1, "a 429's pause, or a low budget's spacing (falcon.base.policy)" },
    ["Client:_send"] = { 1, "a retry's backoff" },
  },
  ["lua/falcon/fleet/init.lua"] = {
    ["fleet:take"] = { 2, "the end of the fleet's pause; the time of the slot reserved" },
    ["fleet:_reserve_until"] = { 1, "when the fleet's next slot comes within the horizon" },
    ["fleet:authenticate"] = { 1, "another process's renewal: only Redis shows it, looked at after a backoff" },
  },
  ["lua/falcon/client/tokenshare.lua"] = {
    ["tokenshare:authenticate"] = { 1, "another worker's renewal: only the shared dict shows it, after a backoff" },
  },
  ["lua/falcon/drivers/multi.lua"] = {
    ["loop"] = { 1, "the scheduler's next timer, when no exchange is in flight" },
    ["multi_driver.wait_at_home"] = { 1, "the rest of a finite deadline, once no task is left to release it" },
  },
  ["lua/falcon/drivers/cosocket.lua"] = {
    ["cosocket.sleep"] = { 1, "the driver's sleep itself" },
  },
}

local function lua_files()
  local list = {}
  for path in emulator.run("find lua -name '*.lua' -not -path 'lua/falcon/endpoints/*' | sort"):gmatch("[^\n]+") do
    list[#list + 1] = path
  end
  return list
end

-- The name of the function a line belongs to (the nearest `function name(` or `name = function(` above),
-- and the one the lines after it belong to (a one-line function ends on its line).
local function function_name(line, current)
  local name = line:match("^%s*local%s+function%s+([%w_.:]+)%s*%(") or line:match("^%s*function%s+([%w_.:]+)%s*%(")
    or line:match("^%s*([%w_.]+)%s*=%s*function%s*%(")
  if not name then return current, current end
  if line:find("%send%s*$") then return name, current end
  return name, name
end

-- Every sleep call in `path`: {line, function, text}. Comments and the definitions of sleep are not calls.
local function sleeps_in(path)
  local found, current, n = {}, "(file)", 0
  for line in io.lines(path) do
    n = n + 1
    local this
    this, current = function_name(line, current)
    local code = line:gsub("%-%-.*$", ""):gsub("function%s*[%w_.:]*sleep%s*%b()", "") -- a definition: its body stays
    if code:find("[%w_%]%)]%s*[.:]%s*sleep%s*%(") then
      found[#found + 1] = { line = n, name = this, text = (code:gsub("^%s+", "")) }
    end
  end
  return found
end

describe("no component waits by polling", function()
  it("sleeps only where a time is waited for, each listed with that time", function()
    local unlisted, counts = {}, {}
    for _, path in ipairs(lua_files()) do
      for _, site in ipairs(sleeps_in(path)) do
        local listed = SLEEPS[path] and SLEEPS[path][site.name]
        if not listed then
          unlisted[#unlisted + 1] = ("%s:%d (in %s): %s"):format(path, site.line, site.name, site.text)
        end
        counts[path .. " " .. site.name] = (counts[path .. " " .. site.name] or 0) + 1
      end
    end
    assert.are.same({}, unlisted, "a sleep that is not a wait for a time: wait on the driver's queue instead")
    for path, functions in pairs(SLEEPS) do
      for name, entry in pairs(functions) do
        assert.are.equal(entry[1], counts[path .. " " .. name] or 0, path .. " " .. name .. ": " .. entry[2])
      end
    end
  end)

  it("waits on queues with a deadline, never a short fixed one, and sleeps for no fixed time", function()
    local bad = {}
    for _, path in ipairs(lua_files()) do
      local n = 0
      for line in io.lines(path) do
        n = n + 1
        local code = line:gsub("%-%-.*$", "")
        local where = ("%s:%d: %s"):format(path, n, (code:gsub("^%s+", "")))
        -- q.wait() with no deadline, q.wait(now + 0.01), sleep(0.005), sleep(POLL): the shapes of a poll.
        if code:find("[.:]wait%s*%(%s*%)") or code:find("[.:]wait%s*%([^)]*now%(%)%s*%+%s*[%d.]+%s*%)")
            or code:find("[.:]sleep%s*%(%s*[%d.]+%s*%)") or code:find("[.:]sleep%s*%(%s*[%w_.]*%u%u[%u_]*%s*%)") then
          bad[#bad + 1] = where
        end
      end
    end
    assert.are.same({}, bad)
  end)

  -- The statements the static checks above must catch, put back as they were (or as they would be).
  it("catches the sleep-polls the tree had", function()
    local dir = emulator.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-waits.XXXXXX\""):gsub("%s+$", "")
    local path = dir .. "/event_stream.lua"
    local f = assert(io.open(path, "w"))
    f:write("function EventStream:_discover(seen)\n  while self.discovering do self.driver.sleep(0.01) end\nend\n",
            "function EventStream:_feed_task(p)\n  while self:_queued() >= self.queue_max do d.sleep(self.nap) end\nend\n")
    f:close()
    local sites = sleeps_in(path)
    emulator.run("rm -rf " .. emulator.quote(dir))
    assert.are.same({ "EventStream:_discover", "EventStream:_feed_task" }, { sites[1].name, sites[2].name })
  end)

  it("lets a scheduler whose tasks only wait for a time sleep, not spin", function()
    local falcon, driver = require "falcon", require "falcon.drivers"
    local cpu, began = os.clock(), core.now()
    falcon.parallel({ function() driver.current().sleep(0.5) end, function() driver.current().sleep(0.3) end })
    local used, took = os.clock() - cpu, core.now() - began
    assert.is_true(took >= 0.5, ("took %.3f s"):format(took))
    -- Looping on the multi handle with nothing in flight (it returns at once) burnt the whole 0.5 s.
    assert.is_true(used < 0.15, ("%.3f s of CPU for 0.5 s of sleep"):format(used))
  end)

  describe("at run time", function()
    local e, redis, falcon

    setup(function()
      e = emulator.start { streams = { partitions = 2, events = 100, rate = 0, keepalive = 0.1, refresh_interval = 30 } }
      redis = redis_server.start()
      falcon = require "falcon"
    end)
    teardown(function()
      if redis then redis:stop() end
      if e then e:stop() end
    end)

    -- Runs fn with every scheduler's timed waits (sleeps, and queue waits with a deadline) recorded:
    -- returns the lengths of those that ended at their deadline.
    local function timed_waits(fn)
      local multi_driver = require "falcon.drivers.multi"
      local new, ended = multi_driver.new, {}
      multi_driver.new = function(...)
        local s = new(...)
        local wait = s.wait
        s.wait = function(w, deadline)
          local asked = deadline - core.now()
          local released = wait(w, deadline)
          if not released and asked < math.huge then ended[#ended + 1] = asked end
          return released
        end
        return s
      end
      local ok, err = pcall(fn)
      multi_driver.new = new
      assert(ok, err)
      return ended
    end

    it("reads a stream under leases through a full queue and new discoveries with no short waits", function()
      e:reset_streams { partitions = 2, events = 60, rate = 200, keepalive = 0.1, refresh_interval = 30 }
      -- Two 401s: both feeds discover again together (one discovers, the other waits for it, 0.3 s).
      e:control("faults", { route = "/sensors/entities/datafeed/v1/*", status = 401, count = 2 })
      e:control("delays", { route = "/sensors/entities/datafeed/v2", delay = 0.3 })
      local client = falcon.Client.new { client_id = e.client_id, client_secret = e.client_secret, base_url = e.url }
      local last = { [0] = 0, [1] = 0 }
      local stream
      local waits = timed_waits(function()
        -- A queue of 3 and a slow loop body: the feeds wait for room most of the time. (The lease's ttl
        -- outlasts any run of loop bodies between two waits: its renewals run only while the loop waits.)
        stream = falcon.EventStream { client = client, app_id = "waits1", queue = 3, lease = { ttl = 3 },
                                      coordination = { redis = redis.url } }
        local n = 0
        for event, partition in stream:events() do
          assert.are.equal(last[partition] + 1, event.metadata.offset)
          last[partition] = event.metadata.offset
          n = n + 1
          core.sleep(0.005)
          if n == 120 then break end
        end
        stream:ack()
        stream:stop()
      end)
      client:close()
      assert.are.same({ [0] = 60, [1] = 60 }, last)
      assert.is_true(stream.stats.discoveries >= 2, stream.stats.discoveries .. " discoveries")
      local short = {}
      for _, seconds in ipairs(waits) do if seconds < 0.1 then short[#short + 1] = ("%.3f"):format(seconds) end end
      -- A lease taken just as another ran out may wait its last few milliseconds once; a poll waits dozens.
      assert.is_true(#short <= 2, #short .. " short waits: " .. table.concat(short, " "))
    end)
  end)
end)
