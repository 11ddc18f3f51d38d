-- A Redis peer is input (issue 23): falcon.fleet.redis, and the fleet and the leases above it, against a
-- scripted hostile Redis (spec/helpers/hostile_redis.lua) that floods, stalls and answers the wrong
-- thing: in plain Lua (luasocket, under the blocking driver and inside a curl multi loop) and inside nginx
-- (cosockets). Whatever it sends, a call ends within one round trip's `timeout` with nil, a message and
-- "network", the process's memory stays bounded, and an API call degrades as for a Redis that is down.
local core = require "falcon.core"
local emu = require "spec.helpers.emulator"
local hostile_redis = require "spec.helpers.hostile_redis"
local redis = require "falcon.fleet.redis"
local spawn = require "spec.helpers.spawn"
local Client = require "falcon.client"

local blocking = require("falcon.drivers").blocking
local ROUTE = "/message-center/queries/cases/v1"

local function drip(count)
  local parts = { "*" .. count .. "\r\n" }
  for i = 1, count do parts[i + 1] = ":1\r\n" end
  return { drip = parts, every = 0.1 }
end

-- What a hostile Redis answers to GET, and what the error says.
local ANSWERS = {
  { "a bulk of 9999999999 bytes", { flood = "$9999999999\r\n", fill = "x" }, "a length of 9999999999" },
  { "an array of 2000000000 items", { flood = "*2000000000\r\n", fill = ":1\r\n" }, "a count of 2000000000" },
  { "a line that never ends", { flood = "-ERR ", fill = "a" }, "a line longer than" },
  { "one array item every 0.1 s", drip(30), "timeout" },
  { "+OK where a value is due", "+OK\r\n", "unexpected shape" },
  { ":1 where a value is due", ":1\r\n", "unexpected shape" },
  { "an array where a value is due", "*1\r\n$1\r\na\r\n", "unexpected shape" },
  { "an integer beyond 2^53", ":99999999999999999999\r\n", "integer out of range" },
  { "a length that is not a number", "$1e3\r\n", "not a number" },
  { "two replies to one command", "$1\r\na\r\n$1\r\nb\r\n", "bytes after the reply" },
  { "a nested array", "*1\r\n*1\r\n:1\r\n", "an array holding" },
  { "a RESP3 map", "%1\r\n+a\r\n+b\r\n", "unexpected reply" },
}

-- Runs `code` in a child interpreter of this suite's VM with at most 1.5 GB of address space and 30 s;
-- returns its output, which ends "PEAK_GROWTH_KIB=N" when it finished.
local function child(code)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
local function kib(field)
  local f = io.open("/proc/self/status"); local text = f:read("*a"); f:close()
  return tonumber(text:match(field .. ":%s*(%d+)"))
end
local before
function baseline() collectgarbage(); before = kib("VmRSS") end -- luacheck: ignore
]] .. code .. [[

io.write("PEAK_GROWTH_KIB=", kib("VmHWM") - before, "\n")
]])
  f:close()
  local out = emu.run("timeout 30 bash -c " .. emu.quote("ulimit -v 1500000; exec "
    .. spawn.lua_command() .. " " .. emu.quote(script)) .. " 2>&1")
  os.remove(script)
  return out
end

describe("falcon.fleet.redis against a hostile Redis", function()
  for _, case in ipairs(ANSWERS) do
    local name, answer, says = case[1], case[2], case[3]
    it("fails the call within its timeout, with the reason, for " .. name, function()
      hostile_redis.serving({ GET = answer }, function(server)
        local link = redis.link(redis.settings { redis = server.url, timeout = 0.25 })
        for _ = 1, 2 do -- and again on a new connection: the first one was dropped
          local began = core.now()
          local value, message, kind = link:call(blocking, redis.shape.string_or_null, "GET", "key")
          local took = core.now() - began
          assert.same({ nil, "network" }, { value, kind })
          assert.truthy(message:find(says, 1, true), message)
          assert.truthy(message:find("Redis at 127.0.0.1:" .. server.port, 1, true), message)
          assert.is_true(took < 1.5, name .. " held the call " .. took .. " s")
        end
        link:close()
        assert.same({ "GET", "GET" }, server:commands())
      end)
    end)
  end

  for _, case in ipairs({ ANSWERS[1], ANSWERS[2], ANSWERS[3] }) do
    it("keeps the process's memory bounded against " .. case[1], function()
      local out
      hostile_redis.serving({ GET = case[2] }, function(server)
        out = child(([[
local redis = require "falcon.fleet.redis"
local link = redis.link(redis.settings { redis = %q, timeout = 5 })
link:call(require("falcon.drivers").blocking, redis.shape.string_or_null, "GET", "warm")
baseline()
for _ = 1, 3 do assert(link:call(require("falcon.drivers").blocking, redis.shape.string_or_null, "GET", "key") == nil) end
]]):format(server.url))
      end)
      local grown = tonumber(out:match("PEAK_GROWTH_KIB=(%-?%d+)"))
      assert.truthy(grown, out)
      assert.is_true(grown < 32 * 1024, "grew " .. tostring(grown) .. " KiB")
    end)
  end

  it("writes numbers as Redis reads them, under every VM (2^53 - 1 is not 9.007199254741e+15)", function()
    local resp = require "falcon.fleet.resp"
    assert.equal("*3\r\n$3\r\nSET\r\n$16\r\n9007199254740991\r\n$1\r\n2\r\n",
                 resp.encode({ "SET", 2 ^ 53 - 1, 2.0 }, 3))
  end)
end)

describe("a fleet member whose Redis answers the wrong thing", function()
  local e
  setup(function() e = emu.start {} end)
  teardown(function() if e then e:stop() end end)

  -- The fleet's commands, answered badly one at a time: the token's GET, the budget's script.
  local PLANS = {
    { "+OK for the token", { GET = "+OK\r\n" } },
    { "a huge bulk for the token", { GET = { flood = "$9999999999\r\n", fill = "x" } } },
    { "+OK for the budget script", { GET = "$-1\r\n", SET = "+OK\r\n", EVALSHA = "+OK\r\n" } },
    { ":1 for the budget script", { GET = "$-1\r\n", SET = "+OK\r\n", EVALSHA = ":1\r\n" } },
    { "a short array for the budget script", { GET = "$-1\r\n", SET = "+OK\r\n", EVALSHA = "*2\r\n:1\r\n:0\r\n" } },
    { "an endless array for the budget script", { GET = "$-1\r\n", SET = "+OK\r\n",
                                                  EVALSHA = { flood = "*2000000000\r\n", fill = ":1\r\n" } } },
    { "a dripped array for the budget script", { GET = "$-1\r\n", SET = "+OK\r\n", EVALSHA = drip(30) } },
  }

  local function member(url, warnings)
    return Client.new { base_url = e.url, client_id = e.client_id, client_secret = e.client_secret,
                        coordination = { redis = url, retry_interval = 0.01 },
                        debug = function(_, fields) warnings[#warnings + 1] = fields.warning end }
  end

  for _, plan in ipairs(PLANS) do
    it("answers API calls as a lone process, never raising, for " .. plan[1] .. " (plain, curl multi)", function()
      hostile_redis.serving(plan[2], function(server)
        local warnings = {}
        local c = member(server.url, warnings)
        local began = core.now()
        for _ = 1, 3 do
          assert.equal(200, c:request { method = "GET", route = ROUTE }.status_code)
          core.sleep(0.03)
        end
        local tasks = {}
        for i = 1, 4 do tasks[i] = function() return c:request { method = "GET", route = ROUTE }.status_code end end
        local results, errors = require("falcon.drivers.parallel").run(tasks, { max = 4 })
        assert.is_nil(errors)
        assert.same({ 200, 200, 200, 200 }, results)
        assert.is_true(core.now() - began < 8, "took " .. (core.now() - began))
        assert.is_true(c.fleet.stats.lost >= 1)
        assert.truthy(warnings[1] and warnings[1]:find("going on alone", 1, true), tostring(warnings[1]))
        c:close()
      end)
    end)
  end
end)

describe("falcon.fleet.redis and the fleet inside nginx (cosockets) against a hostile Redis", function()
  local openresty = require "spec.helpers.openresty"
  local app = require "spec.helpers.ngx_redis_app"
  local cjson = require "cjson"
  local e, nginx
  setup(function()
    e = emu.start {}
    nginx = openresty.start { emu = e, workers = 1, extra = app.SERVER }
  end)
  teardown(function()
    if nginx then nginx:stop() end
    if e then e:stop() end
  end)

  local function get(path, url)
    local out = emu.run("curl -sS --max-time 60 -H 'Host: redis-spec' " .. emu.quote(nginx.url .. path .. "?url="
      .. url))
    local ok, decoded = pcall(cjson.decode, out)
    assert(ok and not decoded.error, out .. "\n" .. nginx:errors())
    return decoded
  end

  for _, case in ipairs(ANSWERS) do
    it("fails the call within its timeout, with the reason, for " .. case[1], function()
      hostile_redis.serving({ GET = case[2] }, function(server)
        local answer = get("/get", server.url)
        assert.same({ "cosocket", "nil", "network" }, { answer.driver, answer.value, answer.kind })
        assert.truthy(answer.err:find(case[3], 1, true), answer.err)
        assert.is_true(answer.seconds < 1.5, case[1] .. " held the call " .. answer.seconds .. " s")
        assert.is_true(answer.grown_kib < 32 * 1024, "the worker grew " .. answer.grown_kib .. " KiB")
      end)
    end)
  end

  it("never takes a stream lease without a fence, whatever the lease script gets", function()
    for _, answer in ipairs({ "+OK\r\n", ":1\r\n", "*1\r\n:5\r\n", "*2\r\n:5\r\n:0\r\n" }) do
      hostile_redis.serving({ EVALSHA = answer }, function(server)
        local result = get("/lease", server.url)
        assert.same({ "none", "network" }, { result.fence, result.kind })
        assert.truthy(result.err:find("unexpected shape", 1, true), result.err)
      end)
    end
  end)

  it("answers API calls as a lone process, never raising, whatever the budget script gets", function()
    for _, answer in ipairs({ "+OK\r\n", ":1\r\n", { flood = "*2000000000\r\n", fill = ":1\r\n" }, drip(30) }) do
      hostile_redis.serving({ GET = "$-1\r\n", SET = "+OK\r\n", EVALSHA = answer }, function(server)
        local result = get("/fleet", server.url)
        assert.same({ "cosocket", { 200, 200, 200 } }, { result.driver, result.statuses })
        assert.is_true(result.lost >= 1)
        assert.is_true(result.seconds < 8, "took " .. result.seconds)
      end)
    end
  end)
end)
