-- Many requests in flight from plain Lua: falcon.parallel / falcon.map on one curl multi handle,
-- shared rate limits and token renewal, automatic ID batching, and parallel offset paging.
local falcon = require "falcon"
local core = require "falcon.core"
local emulator = require "spec.helpers.emulator"

local QUERY = "/message-center/queries/cases/v1"
local LOOKUP = "/message-center/entities/cases/GET/v1"

describe("concurrency", function()
  local emu, mc

  setup(function() emu = emulator.start() end)
  teardown(function() if emu then emu:stop() end end)
  before_each(function()
    emu:control("reset", {})
    mc = falcon.MessageCenter { client_id = emu.client_id, client_secret = emu.client_secret, base_url = emu.url,
                                retry_backoff = 0.01 }
  end)

  local function calls(route)
    local found = {}
    for _, entry in ipairs(emu:requests()) do if entry.uri == route then found[#found + 1] = entry end end
    return found
  end


  describe("falcon.parallel", function()
    it("runs 40 delayed calls 8 at a time, reusing one connection per slot", function()
      emu:control("delays", { route = QUERY, delay = 0.3 })
      local tasks = {}
      for i = 1, 40 do tasks[i] = function() return mc:query_cases { limit = 1, offset = i }.status_code end end
      local results, errors = falcon.parallel(tasks, { max = 8 })
      assert.is_nil(errors)
      assert.equals(40, #results)
      for i = 1, 40 do assert.equals(200, results[i]) end
      local entries = calls(QUERY)
      assert.equals(40, #entries)
      assert.equals(8, emulator.max_overlap(entries))
      local per_connection = {}
      for _, e in ipairs(entries) do per_connection[e.connection] = (per_connection[e.connection] or 0) + 1 end
      -- Each slot keeps its connection: 40 requests over about 8 connections (a busy machine may see a
      -- slot's connection replaced once or twice; it never opens one per request).
      local connections, spread = 0, {}
      for _, n in pairs(per_connection) do connections = connections + 1; spread[#spread + 1] = n end
      assert.is_true(connections >= 8 and connections <= 10,
        connections .. " connections, requests each: " .. table.concat(spread, ","))
      assert.equals(1, #calls("/oauth2/token")) -- eight tasks found no token; one renewal served them all
    end)

    it("returns results in order, and every error tied to its task with a traceback", function()
      local results, errors = falcon.map({ 1, 2, 3, 4 }, function(n)
        if n == 3 then error("task three failed") end
        return mc:query_cases { limit = n }.body.meta.pagination.limit
      end, { max = 2 })
      assert.same({ 1, 2, nil, 4 }, { results[1], results[2], results[3], results[4] })
      assert.matches("task three failed", errors[3])
      assert.matches("stack traceback", errors.tracebacks[3])
      assert.is_nil(errors[1])
    end)

    it("keeps the SDK's behaviour inside tasks: Result objects and APIError", function()
      local pythonic = falcon.MessageCenter { client_id = emu.client_id, client_secret = emu.client_secret,
                                              base_url = emu.url, pythonic = true }
      local results, errors = falcon.parallel({
        function() return pythonic:query_cases { limit = 2 }:len() end,
        function() return pythonic:get_cases("no-such-case") end,
      })
      assert.equals(2, results[1])
      assert.is_true(falcon.APIError.is(errors[2]))
      assert.equals(404, errors[2].status_code)
    end)

    it("queues the tasks that find no token behind the one renewal in flight: no polling", function()
      emu:control("delays", { route = "/oauth2/token", delay = 0.3 })
      local sleeps = 0
      local tasks = {}
      for i = 1, 12 do
        tasks[i] = function()
          if i == 1 then -- the tasks share one driver: count its sleeps (a waiter that polled would sleep)
            local d = require("falcon.drivers").current()
            local sleep = d.sleep
            d.sleep = function(seconds) sleeps = sleeps + 1; return sleep(seconds) end
          end
          return mc:query_cases { limit = 1, offset = i }.status_code
        end
      end
      local results, errors = falcon.parallel(tasks, { max = 12 })
      assert.is_nil(errors)
      for i = 1, 12 do assert.equals(200, results[i]) end
      assert.equals(0, sleeps)
      assert.equals(1, #calls("/oauth2/token"))
      local token = calls("/oauth2/token")[1]
      local queries = calls(QUERY)
      assert.equals(12, #queries)
      -- Every waiter went on the moment the token came (none was still asleep in a poll).
      for _, q in ipairs(queries) do
        assert.is_true(q.time >= token.time + token.duration - 0.002 and q.time < token.time + token.duration + 0.1)
      end
    end)

    it("lets a task wait for another's renewal no longer than max_retry_wait: then it renews itself", function()
      emu:control("delays", { route = "/oauth2/token", delay = 1.5 })
      local impatient = falcon.MessageCenter { client_id = emu.client_id, client_secret = emu.client_secret,
                                               base_url = emu.url, max_retry_wait = 0.3 }
      local tasks = {}
      for i = 1, 3 do tasks[i] = function() return impatient:query_cases { limit = 1 }.status_code end end
      assert.same({ 200, 200, 200 }, (falcon.parallel(tasks)))
      local tokens = {}
      for _, entry in ipairs(calls("/oauth2/token")) do tokens[#tokens + 1] = entry.time end
      table.sort(tokens)
      -- The two waiters gave up 0.3 s in, long before the first renewal's answer (1.5 s): three requests.
      assert.equals(3, #tokens)
      assert.is_true(tokens[3] - tokens[1] < 1, ("the last token request %.2f s after the first"):format(tokens[3] - tokens[1]))
    end)

    it("never waits on a renewal whose scheduler is gone: the caller renews by itself", function()
      -- A renewal left in flight by a scheduler that ended (its queue will never be released).
      local gone = require("falcon.drivers.multi").new(1)
      mc._client.renewal = { queue = gone.driver.queue(), driver = gone.driver }
      gone.multi:close()
      assert.equals(200, mc:query_cases { limit = 1 }.status_code) -- blocking: no yield, no hang
      local results = falcon.parallel({ function() return mc:query_cases { limit = 1 }.status_code end })
      assert.same({ 200 }, results)
      assert.equals(1, #calls("/oauth2/token"))
    end)

    it("pauses every task after a 429 and completes each exactly once", function()
      emu:control("faults", { route = QUERY, status = 429, count = 1, retry_after = 1 })
      -- Answers take 50 ms, so the 16 first requests (the token's waiters leave the moment it comes) all
      -- reach the server before the 429 is answered: whatever arrives after it was sent after it.
      emu:control("delays", { route = QUERY, delay = 0.05 })
      local tasks = {}
      for i = 1, 16 do tasks[i] = function() return mc:query_cases { limit = 1, offset = i }.status_code end end
      local started = core.now()
      local results = falcon.parallel(tasks, { max = 16 })
      for i = 1, 16 do assert.equals(200, results[i]) end
      local entries = calls(QUERY)
      -- 16 successes and the one 429. A read may also have gone out a second time at the transport
      -- level (libcurl resends a GET whose kept-alive connection died before any answer): the task
      -- still completed once, and that resend is allowed for reads only (spec/reliability_spec.lua).
      local answered_offsets, throttled = {}, 0
      for _, e in ipairs(entries) do
        if e.status == 429 then throttled = throttled + 1 end
        local offset = tonumber(tostring(e.args):match("offset=(%d+)"))
        if e.status == 200 and offset then answered_offsets[offset] = true end
      end
      assert.equals(1, throttled)
      for i = 1, 16 do assert.is_true(answered_offsets[i], "offset " .. i .. " never answered") end
      assert.is_true(#entries == 17 or #entries == 18, #entries .. " requests")
      local first_429
      for _, e in ipairs(entries) do if e.status == 429 then first_429 = e end end
      -- Nothing was sent between the 429's answer and the time the API named (>= 1 s later). A request
      -- already on its way when the client read the 429 may reach the server just after the answer was
      -- logged: the server's clock cannot tell it from one sent later, so 0.25 s of such is allowed.
      local answered = first_429.time + first_429.duration
      local resumed = 0
      for _, e in ipairs(entries) do
        if e.time > answered + 0.25 then
          resumed = resumed + 1
          assert.is_true(e.time >= math.floor(answered) + 1 - 0.05, ("sent %.3f s after the 429"):format(e.time - answered))
        end
      end
      assert.is_true(resumed >= 1)
      assert.is_true(core.now() - started >= 0.9)
    end)

    it("checks its arguments", function()
      assert.has_error(function() falcon.parallel({ 1 }) end,
        "falcon: parallel: bad argument 'tasks' (item 1: function expected, got number)")
      assert.has_error(function() falcon.parallel({}, { max = 0 }) end,
        "falcon: parallel: bad argument 'max' (integer 1..64 expected, got 0)")
      assert.has_error(function() falcon.map({}, nil) end, "falcon: map: bad argument 'fn' (function expected, got nil)")
    end)
  end)

  describe("ID batching", function()
    local ids

    before_each(function()
      emu:control("seed", { cases = 1300 })
      ids = {}
      for id in mc:each("query_cases", { limit = 500, sort = "case.id.asc" }) do ids[#ids + 1] = id end
      assert.equals(1300, #ids)
      -- A shuffled order, so that "in the order given" means something.
      for i = #ids, 2, -1 do local j = (i * 7919) % i + 1; ids[i], ids[j] = ids[j], ids[i] end
      while #ids > 1234 do table.remove(ids) end
      emu:clear_log()
    end)

    local function check(response)
      assert.equals(200, response.status_code)
      assert.equals(1234, #response.body.resources)
      for i, case in ipairs(response.body.resources) do assert.equals(ids[i], case.id) end
      assert.equals(3, response.body.meta.batches)
    end

    it("splits 1,234 ids into 3 requests and merges them in the order given", function()
      check(mc:get_cases(ids))
      local lookups = calls(LOOKUP)
      assert.equals(3, #lookups)
      local seen = {}
      for _, entry in ipairs(lookups) do
        for _, id in ipairs(require("falcon.json").decode(entry.body).ids) do
          assert.is_nil(seen[id]); seen[id] = true
        end
      end
    end)

    it("loses nothing when a 503 and a 429 hit batches", function()
      emu:control("faults", { route = LOOKUP, status = 503, count = 1 })
      emu:control("faults", { route = LOOKUP, status = 429, count = 1, retry_after = 0 })
      check(mc:get_cases { ids = table.concat(ids, ",") })
      assert.equals(5, #calls(LOOKUP))
    end)

    it("works in the Uber class and in Result mode", function()
      local uber = falcon.APIHarnessV2 { client_id = emu.client_id, client_secret = emu.client_secret, base_url = emu.url }
      check(uber:command("GetCaseEntitiesByIDs", { body = { ids = ids } }))
      local pythonic = falcon.MessageCenter { client_id = emu.client_id, client_secret = emu.client_secret,
                                              base_url = emu.url, pythonic = true }
      local result = pythonic:get_cases(ids)
      assert.equals(1234, result:len())
      assert.equals(ids[1234], result.data[1234].id)
    end)

    it("merges errors: unknown ids are reported, the found ones kept", function()
      ids[5], ids[1000] = "unknown-one", "unknown-two"
      local response = mc:get_cases(ids)
      assert.equals(404, response.status_code)
      assert.equals(1232, #response.body.resources)
      local text = require("falcon.json").encode(response.body.errors)
      assert.matches("unknown%-one", text)
      assert.matches("unknown%-two", text)
    end)
  end)

  describe("parallel paging", function()
    it("fetches offset pages concurrently and yields them in order", function()
      emu:control("seed", { cases = 2000 })
      local sequential = {}
      for id in mc:each("query_cases", { limit = 100, sort = "case.id.asc" }) do sequential[#sequential + 1] = id end
      emu:clear_log()
      emu:control("delays", { route = QUERY, delay = 0.1 })
      local concurrent, pages = {}, 0
      for id in mc:each("query_cases", { limit = 100, sort = "case.id.asc" }, { parallel = 5,
          on_page = function() pages = pages + 1 end }) do
        concurrent[#concurrent + 1] = id
      end
      assert.same(sequential, concurrent)
      assert.equals(20, pages)
      assert.equals(20, #calls(QUERY))
      assert.is_true(emulator.max_overlap(calls(QUERY)) >= 4)
    end)

    it("checks the option", function()
      assert.has_error(function() mc:each("query_cases", {}, { parallel = 0 }) end)
    end)
  end)
end)
