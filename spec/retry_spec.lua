-- Retries and rate limits (falcon.base.policy through falcon.client) against the emulator's faults.
local Client = require "falcon.client"
local core = require "falcon.core"
local policy = require "falcon.base.policy"
local child = require "spec.helpers.child"
local emulator = require "spec.helpers.emulator"

local QUERY = "/message-center/queries/cases/v1"
local LOOKUP = "/message-center/entities/cases/GET/v1"
local CREATE = "/message-center/entities/case/v2"
local NEW_CASE = '{"title":"t","type":"fc:incident-response","body":"b","user_uuid":"u","detections":[],"incidents":[]}'

describe("retries and rate limits", function()
  local emu

  setup(function() emu = emulator.start() end)
  teardown(function() if emu then emu:stop() end end)
  before_each(function() emu:control("reset", {}) end)

  local function client(extra)
    local opts = { base_url = emu.url, client_id = emu.client_id, client_secret = emu.client_secret,
                   retry_backoff = 0.01 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    local c = Client.new(opts)
    assert.is_true(c:login())
    emu:clear_log()
    return c
  end

  local function count(route)
    local n = 0
    for _, entry in ipairs(emu:requests()) do if entry.uri == route then n = n + 1 end end
    return n
  end

  local function create(c)
    return c:request { method = "POST", route = CREATE, content_type = "application/json", body = NEW_CASE }
  end

  describe("429", function()
    it("waits the time the API names, then succeeds", function()
      local c = client()
      emu:control("faults", { route = QUERY, status = 429, count = 1, retry_after = 1 })
      local started = core.now()
      local response = c:request { method = "GET", route = QUERY }
      local waited = core.now() - started
      assert.equals(200, response.status_code)
      assert.equals(2, count(QUERY))
      assert.is_true(waited >= 0.9, "waited " .. waited)
      assert.is_true(waited < 3, "waited " .. waited)
    end)

    it("is retried for writes too: the API did not process the request", function()
      local c = client()
      emu:control("faults", { route = CREATE, status = 429, count = 1, retry_after = 0 })
      assert.equals(200, create(c).status_code)
      assert.equals(2, count(CREATE))
    end)

    it("gives the 429 back when the named wait exceeds max_retry_wait", function()
      local c = client { max_retry_wait = 5 }
      emu:control("faults", { route = QUERY, status = 429, count = 1, retry_after = 30 })
      local started = core.now()
      local response = c:request { method = "GET", route = QUERY }
      assert.equals(429, response.status_code)
      assert.is_true(core.now() - started < 1)
      assert.equals(1, count(QUERY))
    end)

    it("gives the 429 back after max_retries", function()
      local c = client { max_retries = 2 }
      emu:control("faults", { route = QUERY, status = 429, count = 5, retry_after = 0 })
      assert.equals(429, c:request { method = "GET", route = QUERY }.status_code)
      assert.equals(3, count(QUERY))
    end)

    it("retries a 429 from the token endpoint", function()
      local c = Client.new { base_url = emu.url, client_id = emu.client_id, client_secret = emu.client_secret }
      emu:control("faults", { route = "/oauth2/token", status = 429, count = 1, retry_after = 0 })
      assert.is_true(c:login())
      assert.equals(2, count("/oauth2/token"))
    end)

    it("records the rate-limit headers on the client", function()
      local c = client()
      c:request { method = "GET", route = QUERY }
      assert.is_number(c.ratelimit.limit)
      assert.is_number(c.ratelimit.remaining)
      assert.is_true(c.ratelimit.remaining < c.ratelimit.limit)
    end)

    it("slows down before the budget runs out", function()
      emu:control("config", { rate_limit = { limit = 200, window = 60 } })
      local c = client()
      -- Spend the budget down to the low-water mark (10%) at full speed...
      local started = core.now()
      while (c.ratelimit.remaining or 200) >= 20 do c:request { method = "GET", route = QUERY } end
      local fast = (core.now() - started) / count(QUERY)
      -- ...then each further request waits at least the sustainable spacing (60 s / 200).
      started = core.now()
      for _ = 1, 3 do c:request { method = "GET", route = QUERY } end
      local slow = (core.now() - started) / 3
      assert.is_true(slow >= 0.3, ("spacing %.3f s"):format(slow))
      assert.is_true(slow > 5 * fast)
    end)
  end)

  describe("what a server says about waiting is input", function()
    local function get(c) return c:request { method = "GET", route = QUERY } end
    local function timed(fn)
      local started = core.now()
      local result = fn()
      return result, core.now() - started
    end
    local function answer_with(headers, extra)
      local rule = { route = QUERY, headers = headers, count = 1 }
      for k, v in pairs(extra or {}) do rule[k] = v end
      emu:control("faults", rule)
    end

    -- Not one of these is a budget: none may make a later call sleep out of range, stall or fail.
    local NOT_A_BUDGET = { "0.001", "0.5", "-5", "NaN", "nan", "inf", "-inf", "1e309", "1e-300", "0x10", "+7",
                           "99999999999999999999999", "garbage", "6000, x", "1,,2", "5 5" }

    it("a rate-limit header that is not a whole number is recorded as unknown, never paced on", function()
      -- Paced, a call would wait max_retry_wait (5 s); unpaced, it returns at once (2 s leaves room for a busy machine).
      local c = client { max_retry_wait = 5 }
      for _, value in ipairs(NOT_A_BUDGET) do
        answer_with { ["X-Ratelimit-Limit"] = value, ["X-Ratelimit-Remaining"] = "0" }
        assert.equals(200, get(c).status_code)
        assert.is_nil(c.ratelimit.limit, value)
        local response, waited = timed(function() return get(c) end)
        assert.equals(200, response.status_code, value)
        assert.is_true(waited < 2, ("after X-Ratelimit-Limit %q the next call took %.3f s"):format(value, waited))
        answer_with { ["X-Ratelimit-Limit"] = "6000", ["X-Ratelimit-Remaining"] = value }
        assert.equals(200, get(c).status_code)
        assert.equals(6000, c.ratelimit.limit)
        assert.is_nil(c.ratelimit.remaining, value)
        response, waited = timed(function() return get(c) end)
        assert.equals(200, response.status_code, value)
        assert.is_true(waited < 2, ("after X-Ratelimit-Remaining %q the next call took %.3f s"):format(value, waited))
      end
    end)

    it("pacing on a real budget waits at most max_retry_wait, and at most the call's timeout", function()
      -- A budget of 1 request a minute, spent: the sustainable spacing is 120 s.
      local spent = { ["X-Ratelimit-Limit"] = "1", ["X-Ratelimit-Remaining"] = "0" }
      local c = client { max_retry_wait = 0.4 }
      answer_with(spent)
      get(c)
      assert.same({ 1, 0 }, { c.ratelimit.limit, c.ratelimit.remaining })
      local response, waited = timed(function() return get(c) end)
      assert.equals(200, response.status_code)
      assert.is_true(waited >= 0.35 and waited < 1.2, ("waited %.3f s"):format(waited))
      c = client { timeout = 0.3 } -- max_retry_wait stays 60 s: the call's whole timeout bounds the wait
      answer_with(spent)
      get(c)
      response, waited = timed(function() return get(c) end)
      assert.equals(200, response.status_code)
      assert.is_true(waited >= 0.25 and waited < 1.1, ("waited %.3f s"):format(waited))
    end)

    it("a 429's named wait is read strictly: no number means backoff, too long means the 429 back", function()
      local c = client { max_retry_wait = 2 }
      for _, value in ipairs { "nan", "inf", "1e309", "-1", "0x10", "garbage", "99999999999999999999" } do
        answer_with({ ["X-Ratelimit-Retryafter"] = value, ["Retry-After"] = value }, { status = 429 })
        local response, waited = timed(function() return get(c) end)
        assert.equals(200, response.status_code, value)
        assert.is_true(waited < 1, ("a 429 naming %q: waited %.3f s"):format(value, waited))
      end
      -- A real epoch a day away, and Retry-After a day: past max_retry_wait, returned at once.
      answer_with({ ["X-Ratelimit-Retryafter"] = tostring(math.floor(core.now()) + 86400) }, { status = 429 })
      local response, waited = timed(function() return get(c) end)
      assert.equals(429, response.status_code)
      assert.is_true(waited < 0.5)
      answer_with({ ["X-Ratelimit-Retryafter"] = "x", ["Retry-After"] = "86400" }, { status = 429 })
      assert.equals(429, get(c).status_code)
      -- and the client is not paused by what it gave back
      response, waited = timed(function() return get(c) end)
      assert.equals(200, response.status_code)
      assert.is_true(waited < 0.5)
      -- The call's timeout bounds it too: a 1 s wait on a call allowed 0.5 s is returned.
      local quick = client { timeout = 0.5 }
      answer_with({ ["Retry-After"] = "1", ["X-Ratelimit-Retryafter"] = "x" }, { status = 429 })
      assert.equals(429, get(quick).status_code)
    end)

    it("never hangs falcon.parallel: one spent budget of 0.001 paces the tasks by max_retry_wait at most", function()
      answer_with { ["X-Ratelimit-Limit"] = "0.001", ["X-Ratelimit-Remaining"] = "0" }
      local code, out, err = child.run([[
        local ENV = ...
        local falcon = require "falcon"
        local core = require "falcon.core"
        local mc = falcon.MessageCenter { base_url = ENV.url, client_id = ENV.id, client_secret = ENV.secret,
                                          max_retry_wait = 0.5 }
        for _ = 1, 2 do
          local limit = 1
          local tasks = {}
          for i = 1, 6 do tasks[i] = function() return mc:query_cases { limit = limit }.status_code end end
          local started = core.now()
          local results, errors = falcon.parallel(tasks, { max = 3 })
          assert(errors == nil, errors and tostring(errors[next(errors)]))
          io.write(table.concat(results, ","), " ", ("%.3f"):format(core.now() - started), "\n")
        end
      ]], { url = emu.url, id = emu.client_id, secret = emu.client_secret }, 30)
      assert.equals(0, code, "the child failed or hung:\n" .. err)
      local runs = {}
      for statuses, seconds in out:gmatch("(%S+) ([%d.]+)\n") do runs[#runs + 1] = { statuses, tonumber(seconds) } end
      assert.equals(2, #runs, out)
      for _, run in ipairs(runs) do
        assert.equals("200,200,200,200,200,200", run[1])
        assert.is_true(run[2] < 3, ("6 tasks took %.3f s"):format(run[2]))
      end
    end)
  end)

  describe("transient failures", function()
    it("retries 5xx on reads with backoff", function()
      local c = client()
      emu:control("faults", { route = QUERY, status = 503, count = 2 })
      assert.equals(200, c:request { method = "GET", route = QUERY }.status_code)
      assert.equals(3, count(QUERY))
    end)

    it("retries 5xx on read-only POST routes (entity lookups)", function()
      local c = client()
      emu:control("faults", { route = LOOKUP, status = 502, count = 1 })
      local response = c:request { method = "POST", route = LOOKUP, content_type = "application/json",
                                   body = '{"ids":["nope"]}' }
      assert.equals(404, response.status_code)
      assert.equals(2, count(LOOKUP))
    end)

    it("never retries a 5xx on a write: it may have been applied", function()
      local c = client()
      emu:control("faults", { route = CREATE, status = 503, count = 1 })
      assert.equals(503, create(c).status_code)
      assert.equals(1, count(CREATE))
    end)

    it("retries a reset connection on reads, not on writes", function()
      local c = client()
      emu:control("faults", { route = QUERY, kind = "reset", count = 1 })
      assert.equals(200, c:request { method = "GET", route = QUERY }.status_code)
      -- A fresh connection: on a reused one libcurl itself re-sends once when the server closed it before
      -- answering (the keep-alive race), which is not the case under test.
      local token = emu:requests()[1].headers["authorization"]:match("^Bearer (.+)$")
      local fresh = Client.new { base_url = emu.url, access_token = token, retry_backoff = 0.01 }
      emu:clear_log()
      emu:control("faults", { route = CREATE, kind = "reset", count = 1 })
      local response = create(fresh)
      assert.equals(500, response.status_code)
      assert.equals("connection", response.transport_error.kind)
      assert.equals(1, count(CREATE))
    end)

    it("retries a timed-out read", function()
      local c = client { timeout = 0.5 }
      emu:control("faults", { route = QUERY, delay = 2, count = 1 })
      assert.equals(200, c:request { method = "GET", route = QUERY }.status_code)
    end)

    it("retries a write whose connection never came up", function()
      local attempts = 0
      local c = Client.new { base_url = "http://127.0.0.1:1", access_token = "t", retry_backoff = 0.01,
                             debug = function(_, fields) if fields.route == CREATE then attempts = attempts + 1 end end }
      local response = c:request { method = "POST", route = CREATE, content_type = "application/json", body = "{}" }
      assert.equals("connect", response.transport_error.kind)
      assert.equals(4, attempts) -- the first try and 3 retries, each logged
    end)

    it("is off with max_retries = 0", function()
      local c = client { max_retries = 0 }
      emu:control("faults", { route = QUERY, status = 503, count = 1 })
      assert.equals(503, c:request { method = "GET", route = QUERY }.status_code)
      assert.equals(1, count(QUERY))
    end)

    it("rejects bad policy options", function()
      assert.has_error(function() Client.new { access_token = "t", max_retries = -1 } end,
        "falcon: bad option 'max_retries' (a number >= 0 expected, got -1)")
      assert.has_error(function() Client.new { access_token = "t", max_retry_wait = "10" } end,
        "falcon: bad option 'max_retry_wait' (number expected, got string)")
    end)
  end)

  describe("policy decisions", function()
    local p = policy.new {}
    local function fixed() return 0.5 end

    it("classifies read-only routes", function()
      assert.is_true(policy.idempotent("GET", QUERY))
      assert.is_true(policy.idempotent("POST", LOOKUP))
      assert.is_true(policy.idempotent("POST", "/message-center/aggregates/cases/GET/v1"))
      assert.is_false(policy.idempotent("POST", CREATE))
      assert.is_false(policy.idempotent("PATCH", "/message-center/entities/case/v1"))
      assert.is_false(policy.idempotent("DELETE", "/x/entities/y/v1"))
    end)

    it("reads the wait from X-Ratelimit-Retryafter, then Retry-After", function()
      assert.equals(7, policy.retry_wait(p, false, 0, 429, { ["X-Ratelimit-Retryafter"] = "1007" }, 1000, fixed))
      assert.equals(3, policy.retry_wait(p, false, 0, 429, { ["Retry-After"] = "3" }, 1000, fixed))
    end)

    it("backs off exponentially with jitter, capped", function()
      local waits = {}
      for attempt = 0, 2 do waits[#waits + 1] = policy.retry_wait(p, true, attempt, 503, {}, 0, fixed) end
      assert.same({ 0.25, 0.5, 1 }, waits)
      assert.is_nil(policy.retry_wait(p, true, 3, 503, {}, 0, fixed))
      local capped = policy.new { retry_backoff = 4, retry_backoff_max = 5, max_retries = 9 }
      assert.equals(2.5, policy.retry_wait(capped, true, 5, 503, {}, 0, fixed))
    end)

    it("paces only below a tenth of the budget, and on a reading from the last minute", function()
      assert.equals(0, policy.pace { limit = 6000, remaining = 601 })
      assert.is_true(policy.pace { limit = 6000, remaining = 100 } > 0.01)
      assert.equals(0, policy.pace {})
      assert.is_true(policy.pace({ limit = 6000, remaining = 100, seen_at = 1000 }, 1059) > 0.01)
      assert.equals(0, policy.pace({ limit = 6000, remaining = 100, seen_at = 1000 }, 1061))
    end)

    it("reads server numbers strictly", function()
      local untrusted = require "falcon.base.untrusted"
      assert.equals(5, untrusted.number("5"))
      assert.equals(0.25, untrusted.number(" 0.25 "))
      assert.equals(7, untrusted.integer("7.000"))
      assert.equals(12, untrusted.number(12))
      for _, v in ipairs { "-1", "+1", "1e3", "0x10", "inf", "nan", "NaN", "infinity", "", ".5", "1 2", "999999999999999999",
                           -1, 0 / 0, math.huge, 1e300, true } do
        assert.is_nil(untrusted.number(v), tostring(v))
      end
      assert.is_nil(untrusted.integer("0.001"))
      assert.is_nil(untrusted.integer(1.5))
    end)
  end)
end)
