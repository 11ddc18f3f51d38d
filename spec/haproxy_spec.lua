-- examples/haproxy: HAProxy (Debian's, Lua 5.3 inside) loads the example with `lua-load`; its task sweeps
-- the open cases of the emulator with the SDK, and the service shows the last sweep. A case opened
-- meanwhile shows up in a later sweep: the task keeps running and HAProxy keeps serving between sweeps.
local emulator = require "spec.helpers.emulator"
local cjson = require "cjson"

local quote, run = emulator.quote, emulator.run
local ROOT = emulator.script:match("^(.*)/emulator/falcon%-emulator$")

local function free_port()
  local out = run("ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u")
  local used = {}
  for p in out:gmatch("%d+") do used[tonumber(p)] = true end
  for _ = 1, 100 do
    local port = math.random(20000, 30000)
    if not used[port] then return port end
  end
  error("no free port")
end

describe("examples/haproxy (a lua-load task in HAProxy)", function()
  local e, dir, pid

  setup(function()
    e = emulator.start { seed = { cases = 12 } }
    dir = e.dir .. "/haproxy"
    assert(os.execute("mkdir -p " .. quote(dir)))
  end)

  teardown(function()
    if pid then run("kill " .. pid .. " 2>/dev/null") end
    if e then e:stop() end
  end)

  local function open_cases()
    local n = 0
    for _, c in ipairs(e:all_cases(e:token())) do if c.status == "open" then n = n + 1 end end
    return n
  end

  it("sweeps the open cases with the SDK and serves the last sweep", function()
    math.randomseed(os.time())
    local port = free_port()
    local env = table.concat({
      "FALCONLUA=" .. quote(ROOT), "FALCON_STATUS_PORT=" .. port, "FALCON_SWEEP_SECONDS=1",
      "FALCON_CLIENT_ID=" .. quote(e.client_id), "FALCON_CLIENT_SECRET=" .. quote(e.client_secret),
      "FALCON_BASE_URL=" .. quote(e.url),
      "LUA_PATH=" .. quote(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;"),
      "LUA_CPATH=" .. quote(ROOT .. "/build/lua5.3/?.so;;"),
    }, " ")
    local out, code = run("unset LD_PRELOAD; env " .. env .. " haproxy -D -p " .. quote(dir .. "/pid") .. " -f "
      .. quote(ROOT .. "/examples/haproxy/haproxy.cfg") .. " 2>&1")
    assert.equals(0, code, out)
    pid = (emulator.read_file(dir .. "/pid") or ""):match("%d+")
    assert.truthy(pid, out)
    local function status()
      local resp = e:http { url = "http://127.0.0.1:" .. port .. "/", timeout = 5 }
      return resp.status == 200 and resp.json or nil
    end
    local function wait(test)
      for _ = 1, 100 do
        local s = status()
        if s and test(s) then return s end
        run("sleep 0.1")
      end
      return status()
    end
    local first = wait(function(s) return s.sweeps >= 1 end)
    assert.truthy(first and first.sweeps >= 1, "no sweep: " .. cjson.encode(first or {}))
    assert.is_nil(first.error)
    local before = open_cases()
    assert.equals(before, first.open_cases)
    -- a case opened now is counted by a later sweep
    local token = e:token()
    local created = e:http { method = "POST", path = "/message-center/entities/case/v2", token = token,
      json = cjson.encode { title = "from the haproxy spec", type = "fc:contact", user_uuid = "u-1", body = "x" } }
    assert.equals(200, created.status, created.body)
    local later = wait(function(s) return s.sweeps > first.sweeps + 1 and s.open_cases == before + 1 end)
    assert.equals(before + 1, later.open_cases, cjson.encode(later))
    assert.equals(before + 1, open_cases())
    run("kill " .. pid)
    pid = nil
  end)
end)
