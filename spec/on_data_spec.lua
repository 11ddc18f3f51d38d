-- The core's streaming body (request field `on_data`): a 2xx body handed on chunk by chunk, decoded,
-- never kept; any other body kept as usual; false or an error from the function stops the transfer; no
-- total time limit on a body that never ends. Through the blocking and the curl multi drivers.
-- (The cosocket driver is in spec/event_stream_openresty_spec.lua.)
local Client = require "falcon.client"
local core = require "falcon.core"
local emulator = require "spec.helpers.emulator"
local parallel = require "falcon.drivers.parallel"

local QUERY_ROUTE = "/message-center/queries/cases/v1"

describe("on_data", function()
  local emu, client

  setup(function()
    emu = emulator.start { streams = { partitions = 1, events = 50, keepalive = 0.1 } }
    client = Client.new { base_url = emu.url, client_id = emu.client_id, client_secret = emu.client_secret, timeout = 1 }
  end)
  teardown(function()
    client:close()
    emu:stop()
  end)

  -- Both drivers: the blocking one, and the multi handle under a coroutine.
  local drivers = {
    blocking = function(fn) return fn() end,
    multi = function(fn)
      local results, errors = parallel.run { fn }
      assert.is_nil(errors)
      return results[1]
    end,
  }

  for name, run in pairs(drivers) do
    describe("(" .. name .. ")", function()
      it("hands a 2xx body on in decoded chunks and keeps none of it", function()
        local whole = client:request { method = "GET", route = QUERY_ROUTE, query = { { "limit", 500 } }, binary = true }
        assert.are.equal("gzip", whole.headers["Content-Encoding"]) -- decoded by the sink, before on_data
        local chunks = {}
        local response = run(function()
          return client:request { method = "GET", route = QUERY_ROUTE, query = { { "limit", 500 } },
                                  on_data = function(chunk) chunks[#chunks + 1] = chunk end }
        end)
        assert.are.equal(200, response.status_code)
        assert.are.equal("", response.body)
        local decoded = require("cjson").decode(table.concat(chunks)) -- the same answer (its trace id aside)
        assert.are.same(require("cjson").decode(whole.body).resources, decoded.resources)
        assert.is_true(#chunks > 0 and #decoded.resources == 50)
      end)

      it("keeps a body that is not 2xx, without calling on_data", function()
        local called = false
        local response = run(function()
          return client:request { method = "GET", route = QUERY_ROUTE, auth = "none",
                                  on_data = function() called = true end }
        end)
        assert.are.equal(401, response.status_code)
        assert.is_table(response.body.errors)
        assert.is_false(called)
      end)

      it("stops when on_data returns false or raises, saying which", function()
        local stopped = run(function()
          return client:request { method = "GET", route = QUERY_ROUTE, query = { { "limit", 500 } },
                                  on_data = function() return false end }
        end)
        assert.are.equal(500, stopped.status_code)
        assert.are.equal("aborted", stopped.transport_error.kind) -- the caller's own stop: never retried
        assert.matches("on_data callback returned false", stopped.transport_error.message)
        local raised = run(function()
          return client:request { method = "GET", route = QUERY_ROUTE, query = { { "limit", 500 } },
                                  on_data = function() error("no room") end }
        end)
        assert.matches("on_data callback failed: .*no room", raised.transport_error.message)
      end)

      it("reads a body that never ends past the client's total timeout", function()
        local r = emu:http { path = "/sensors/entities/datafeed/v2", query = { { "appId", "ondata" .. name } },
                             token = emu:token() }
        local session = r.json.resources[1]
        local route, query = session.dataFeedURL:match("^https?://[^/]+(/[^?]+)%?appId=(%w+)")
        local started, lines = core.now(), 0
        local response = run(function()
          return client:request { method = "GET", route = route, query = { { "appId", query } }, auth = "none",
            headers = { Authorization = "Token " .. session.sessionToken.token },
            on_data = function(chunk)
              lines = lines + select(2, chunk:gsub("\n", ""))
              return core.now() - started < 1.5 -- the client's timeout is 1 s
            end }
        end)
        assert.matches("on_data callback returned false", response.transport_error.message)
        assert.is_true(core.now() - started >= 1.5)
        assert.is_true(lines > 50) -- 50 events, then keep-alive lines
      end)
    end)
  end

  it("refuses an on_data that is not a function, naming the field", function()
    assert.has_error(function() client:request { method = "GET", route = QUERY_ROUTE, on_data = 5 } end,
      "falcon: request: bad field 'on_data' (function expected, got number)")
  end)
end)
