-- Soak (issue 5, assurance): 20,000 calls on one client, RSS sampled every 1,000 calls. After a
-- warm-up the resident set must stay within a small fixed bound: a leak of 128 bytes per call
-- (a header list, a buffer, a Lua table kept by the engine) would cross it. Runs in a child process
-- so that the suite's own memory does not blur the figures.
local child = require "spec.helpers.child"
local emulator = require "spec.helpers.emulator"

local CALLS, EVERY, WARMUP_SAMPLES = 20000, 1000, 3
local BOUND_KIB = 2048

local CHILD = [==[
local ENV = ...
local url, id, secret, calls, every = ENV.url, ENV.id, ENV.secret, ENV.calls, ENV.every
local falcon = require "falcon"
local function rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)"))
end
local mc = falcon.MessageCenter { client_id = id, client_secret = secret, base_url = url, timeout = 20 }
for i = 1, calls do
  -- alternate a query and an entity lookup: query encoding, JSON bodies, headers, decoding
  local r
  if i % 2 == 1 then r = mc:query_cases { limit = 1, filter = "case.status:!'closed'" }
  else r = mc:get_cases { "0123456789abcdef0123456789abcdef" } end
  if r.status_code >= 300 and r.status_code ~= 404 then error("call " .. i .. ": status " .. r.status_code) end
  if i % every == 0 then
    collectgarbage("collect") -- Lua garbage is not a leak: sample what survives a full cycle
    io.write(("SAMPLE %d %d\n"):format(i, rss_kib()))
    io.flush()
  end
end
]==]

describe("soak", function()
  local e

  setup(function()
    -- the default window (6,000 a minute) would answer 429s long before 20,000 calls
    e = emulator.start { rate_limit = { limit = 1000000, window = 60 }, log_limit = 100 }
  end)
  teardown(function() if e then e:stop() end end)

  it(("makes %d calls on one client without growing more than %d KiB after warm-up"):format(CALLS, BOUND_KIB),
    function()
      local vm = require "spec.helpers.vm"
      local started = os.time()
      local code, out, err = child.run(CHILD, { url = e.url, id = e.client_id, secret = e.client_secret, calls = CALLS,
                                                every = EVERY }, 900)
      assert.equal(0, code, "the soak child failed:\n" .. out .. err)
      local samples, shown = {}, {}
      for calls, kib in out:gmatch("SAMPLE (%d+) (%d+)") do
        samples[#samples + 1] = tonumber(kib)
        shown[#shown + 1] = calls .. ":" .. kib
      end
      print(("\nsoak (%s, %ds): RSS KiB after N calls: %s"):format(vm, os.time() - started, table.concat(shown, " ")))
      assert.equal(CALLS / EVERY, #samples)
      local base, peak = samples[WARMUP_SAMPLES], 0
      for i = WARMUP_SAMPLES + 1, #samples do peak = math.max(peak, samples[i] - base) end
      assert(peak < BOUND_KIB, ("RSS grew %d KiB after warm-up (bound %d KiB)"):format(peak, BOUND_KIB))
    end)
end)
