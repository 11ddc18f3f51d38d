-- Stream leases and checkpoints (falcon.fleet.lease) against a real redis-server, with owners in this process and
-- in other OS processes.
local core = require "falcon.core"
local emu = require "spec.helpers.emulator"
local lease = require "falcon.fleet.lease"
local redis_server = require "spec.helpers.redis"

local vm = require("spec.helpers.spawn").lua_command()

describe("falcon.fleet.lease", function()
  local redis, leases
  setup(function() redis = redis_server.start() end)
  teardown(function()
    if leases then leases:close() end
    if redis then redis:stop() end
  end)
  before_each(function()
    redis:cli("FLUSHALL")
    leases = lease.new({ redis = redis.url }, "app-1")
  end)

  it("gives a partition to one owner at a time, with a new fence each time it changes hands", function()
    local a = assert(leases:acquire(0, "a", 5))
    local refused, why, left = leases:acquire(0, "b", 5)
    assert.same({ nil, "held" }, { refused, why })
    assert.is_true(left > 4 and left <= 5)
    -- Another partition, another lease; the same owner again keeps its fence.
    assert.truthy(leases:acquire(1, "b", 5))
    assert.equal(a.fence, assert(leases:acquire(0, "a", 5)).fence)
    assert.is_true(a.valid_until > core.now() + 4)
    assert.is_true(leases:release(0, "a", a.fence))
    local b = assert(leases:acquire(0, "b", 5))
    assert.is_true(b.fence > a.fence)
    assert.is_false(leases:release(0, "a", a.fence))
  end)

  it("refuses the checkpoint of an owner that paused past its lease and was replaced", function()
    local a = assert(leases:acquire(3, "a", 0.2))
    assert.is_true(leases:checkpoint(3, "a", a.fence, 100))
    assert.same({ "100", a.fence }, { leases:checkpoint_of(3) })
    core.sleep(0.3) -- a pauses (GC, a stopped VM): its lease runs out
    local b = assert(leases:acquire(3, "b", 5))
    assert.same({ nil, "lost" }, { leases:checkpoint(3, "a", a.fence, 90) })
    assert.same({ nil, "lost" }, { leases:renew(3, "a", a.fence, 5) })
    assert.same({ "100", a.fence }, { leases:checkpoint_of(3) })
    -- b resumes from the checkpoint and moves on.
    assert.is_true(leases:checkpoint(3, "b", b.fence, 150))
    assert.same({ "150", b.fence }, { leases:checkpoint_of(3) })
    assert.truthy(leases:renew(3, "b", b.fence, 5))
    -- a lease that ran out while nobody took it is not renewed either: acquire again (new fence)
    local c = assert(leases:acquire(4, "c", 0.1))
    core.sleep(0.2)
    assert.same({ nil, "lost" }, { leases:renew(4, "c", c.fence, 5) })
    assert.is_true(assert(leases:acquire(4, "c", 5)).fence > c.fence)
    assert.is_nil(leases:checkpoint_of(9))
  end)

  it("reads back a checkpoint as large as its lease says it writes, and never writes a larger one", function()
    local big = string.rep("m", 100 * 1024) -- a case watch's memory, past the fleet's 16 KiB values
    local a = assert(leases:acquire("cases", "a", 5))
    assert.same({ nil, "checkpoint too large", "reply" }, { leases:checkpoint("cases", "a", a.fence, big) })
    assert.is_nil(leases:checkpoint_of("cases")) -- nothing was written
    local roomy = lease.new({ redis = redis.url }, "app-1", nil, 128 * 1024)
    assert.is_true(roomy:checkpoint("cases", "a", a.fence, big))
    assert.same({ big, a.fence }, { roomy:checkpoint_of("cases") })
    -- A link whose values are small reads the large one as a broken answer, never as a value.
    local value, err, kind = leases:checkpoint_of("cases")
    assert.is_nil(value)
    assert.equal("network", kind)
    assert.matches("length", err)
    roomy:close()
  end)

  it("lets another process take over within the lease's time once its owner is killed", function()
    local dir = emu.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-lease.XXXXXX\""):gsub("%s+$", "")
    local script = ([[
      local lease = require "falcon.fleet.lease"
      local leases = lease.new({ redis = %q }, "app-1")
      local held = assert(leases:acquire(7, "dying", 0.5))
      assert(leases:checkpoint(7, "dying", held.fence, 42))
      local f = io.open(%q, "w"); f:write(held.fence); f:close()
      while true do assert(leases:renew(7, "dying", held.fence, 0.5)); require("falcon.core").sleep(0.1) end
    ]]):format(redis.url, dir .. "/fence")
    local f = assert(io.open(dir .. "/owner.lua", "w"))
    f:write(script)
    f:close()
    emu.run(vm .. " " .. emu.quote(dir .. "/owner.lua") .. " >/dev/null 2>&1 & echo $! > " .. emu.quote(dir .. "/pid"))
    local fence
    for _ = 1, 200 do
      fence = tonumber(emu.read_file(dir .. "/fence") or "")
      if fence then break end
      core.sleep(0.02)
    end
    assert.truthy(fence)
    -- While the owner lives and renews, nobody else gets the partition.
    core.sleep(0.7)
    local refused, why = leases:acquire(7, "heir", 5)
    assert.same({ nil, "held" }, { refused, why })
    emu.run("kill -KILL $(cat " .. emu.quote(dir .. "/pid") .. ")")
    local killed_at, heir = core.now(), nil
    while not heir and core.now() < killed_at + 2 do
      heir = leases:acquire(7, "heir", 5)
      if not heir then core.sleep(0.05) end
    end
    emu.run("rm -rf " .. emu.quote(dir))
    assert.truthy(heir)
    assert.is_true(core.now() - killed_at <= 0.7)
    assert.is_true(heir.fence > fence)
    assert.same({ "42", fence }, { leases:checkpoint_of(7) })
  end)

  it("answers nil and a message, never a lease, while Redis is down", function()
    local a = assert(leases:acquire(5, "a", 5))
    redis:kill()
    local held, err, kind = leases:renew(5, "a", a.fence, 5)
    assert.is_nil(held)
    assert.truthy(err:find("Redis at 127.0.0.1:" .. redis.port, 1, true))
    assert.equal("network", kind)
    local written, _, checkpoint_kind = leases:checkpoint(5, "a", a.fence, 1)
    assert.same({ nil, "network" }, { written, checkpoint_kind })
    redis:restart()
    -- Redis came back empty: the lease is gone, so it is not renewed, and a new one has a new fence.
    assert.same({ nil, "lost" }, { leases:renew(5, "a", a.fence, 5) })
    assert.truthy(leases:acquire(5, "a", 5))
  end)

  it("draws fences above every one drawn before, even after Redis lost its data", function()
    local last
    for round = 1, 4 do
      last = assert(leases:acquire(2, "owner-" .. round, 5))
      assert.is_true(leases:release(2, "owner-" .. round, last.fence))
    end
    last = assert(leases:acquire(2, "old-owner", 5)) -- the old owner holds its lease, and Redis loses everything
    redis:restart()
    local heir = assert(leases:acquire(2, "heir", 5))
    assert.is_true(heir.fence > last.fence, ("fence %s after %s"):format(heir.fence, last.fence))
    assert.same({ nil, "lost" }, { leases:checkpoint(2, "old-owner", last.fence, 7) })
    assert.is_true(leases:checkpoint(2, "heir", heir.fence, 9))
    -- The fence goes through Redis and back exactly, under every VM (it is above 2^32).
    assert.same({ "9", heir.fence }, { leases:checkpoint_of(2) })
    assert.truthy(leases:renew(2, "heir", heir.fence, 5))
  end)

  it("checks its arguments", function()
    assert.has_error(function() lease.new({ redis = redis.url }, "") end,
      "falcon: lease: bad argument 'app_id' (non-empty string without control characters expected, got '')")
    assert.has_error(function() leases:acquire(0, "a\n", 5) end)
    assert.has_error(function() leases:acquire(0, "a", 0) end,
      "falcon: lease: bad argument 'ttl' (seconds in [0.01, 86400] expected, got 0)")
    assert.has_error(function() leases:checkpoint(0, "a", 0, 1) end,
      "falcon: lease: bad argument 'fence' (the fence acquire returned expected, got 0)")
    assert.has_error(function() leases:acquire({}, "a", 1) end,
      "falcon: lease: bad argument 'partition' (number or string expected, got table)")
  end)
end)

describe("falcon.fleet.lease against a Redis that answers the wrong thing", function()
  local hostile_redis = require "spec.helpers.hostile_redis"
  -- What the lease script is answered with instead of {fence, ttl} or {0, ms left}.
  local ANSWERS = { "+OK\r\n", ":1\r\n", "*1\r\n:5\r\n", "*2\r\n:5\r\n:0\r\n", "*2\r\n$1\r\n5\r\n:5000\r\n",
                    "*2\r\n:-5\r\n:5000\r\n", "*3\r\n:5\r\n:5000\r\n:1\r\n", "$-1\r\n", "*-1\r\n" }
  for _, answer in ipairs(ANSWERS) do
    it("answers nil, a message and \"network\", never a lease, for " .. answer:gsub("\r\n", " "), function()
      hostile_redis.serving({ EVALSHA = answer, HMGET = answer }, function(server)
        local leases = lease.new({ redis = server.url }, "app-1")
        local held, message, kind = leases:acquire(0, "a", 5)
        assert.same({ nil, "network" }, { held, kind })
        assert.truthy(message:find("unexpected shape", 1, true), message)
        local offset, _, read_kind = leases:checkpoint_of(0)
        assert.same({ nil, "network" }, { offset, read_kind })
        leases:close()
      end)
    end)
  end
end)
