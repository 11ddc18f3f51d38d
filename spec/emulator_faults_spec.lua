-- Emulator: faults on demand (every kind), per-route delays, rate limits, the request log and the
-- control API's own validation.
local cjson = require "cjson"
local emu = require "spec.helpers.emulator"

local QUERY = "/message-center/queries/cases/v1"

describe("emulator faults, rate limits and request log", function()
    local e, token

    setup(function()
        e = emu.start{ seed = { cases = 20 } }
    end)
    teardown(function()
        if e then e:stop() end
    end)
    before_each(function()
        e:control("reset", {})
        token = e:token()
    end)

    local function query()
        return e:http{ path = QUERY, token = token, query = { { "limit", 2 } } }
    end

    describe("status faults", function()
        for _, status in ipairs({ 500, 502, 503, 429, 401 }) do
            it("answers " .. status .. " for the next N matching requests", function()
                e:control("faults", { route = QUERY, status = status, count = 2 })
                for _ = 1, 2 do
                    local resp = query()
                    assert.equal(status, resp.status)
                    assert.equal(status, resp.json.errors[1].code)
                    assert.truthy(resp.json.meta.trace_id)
                    assert.equal("us-1", resp.headers["x-cs-region"])
                    assert.truthy(resp.headers["x-ratelimit-limit"])
                    if status == 429 then
                        assert.equal("0", resp.headers["x-ratelimit-remaining"])
                        local retry_at = tonumber(resp.headers["x-ratelimit-retryafter"])
                        assert.is_true(retry_at >= os.time())
                        assert.is_true(tonumber(resp.headers["retry-after"]) >= 1)
                    end
                end
                assert.equal(200, query().status)
                local log = e:requests()
                assert.equal("status", log[#log - 1].fault)
                assert.is_nil(log[#log].fault)
            end)
        end

        it("matches by route glob and method, and count -1 lasts until cleared", function()
            e:control("faults", { route = "/message-center/*", method = "POST", status = 503, count = -1 })
            assert.equal(200, query().status)
            for _ = 1, 3 do
                local resp = e:http{ method = "POST", path = "/message-center/entities/cases/GET/v1", token = token,
                                     json = '{"ids":["x"]}' }
                assert.equal(503, resp.status)
            end
            assert.equal(201, e:http{ method = "POST", path = "/oauth2/token",
                                      headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
                                      body = "client_id=" .. e.client_id .. "&client_secret=" .. e.client_secret }.status)
            local listing = e:control("faults", { clear = true })
            assert.same({}, listing.faults)
            local resp = e:http{ method = "POST", path = "/message-center/entities/cases/GET/v1", token = token,
                                 json = '{"ids":["x"]}' }
            assert.equal(404, resp.status)
        end)

        it("can fail the token endpoint", function()
            e:control("faults", { route = "/oauth2/token", status = 500 })
            local resp = e:http{ method = "POST", path = "/oauth2/token",
                                 headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
                                 body = "client_id=" .. e.client_id .. "&client_secret=" .. e.client_secret }
            assert.equal(500, resp.status)
            assert.is_string(e:token())
        end)
    end)

    describe("transport faults", function()
        it("reset closes the connection without an answer", function()
            e:control("faults", { route = QUERY, kind = "reset" })
            local resp = query()
            assert.equal(52, resp.curl_exit) -- curl: empty reply from server
            assert.equal(0, resp.status)
            assert.equal(200, query().status)
        end)

        it("truncate promises the full length and sends only part of the body", function()
            e:control("faults", { route = QUERY, kind = "truncate", bytes = 10 })
            local resp = query()
            assert.equal(18, resp.curl_exit) -- curl: transfer closed with bytes remaining
            assert.equal(200, resp.status)
            assert.equal(10, #resp.body)
            assert.is_nil(resp.json)
            local full = query()
            assert.equal(0, full.curl_exit)
            assert.equal(full.body:sub(1, 10), resp.body)
        end)

        it("truncate works on binary downloads too", function()
            local case_id = query().json.resources[1]
            local path = e.dir .. "/fault-upload.txt"
            emu.run("head -c 100000 /dev/urandom > " .. emu.quote(path))
            local up = e:http{ method = "POST", path = "/message-center/entities/case-attachment/v1", token = token,
                               form = { { name = "case_id", value = case_id }, { name = "user_uuid", value = "u" },
                                        { name = "file", path = path, filename = "f.txt" } } }
            assert.equal(200, up.status)
            e:control("faults", { route = "/message-center/entities/case-attachment/v1", method = "GET", kind = "truncate" })
            local resp = e:http{ path = "/message-center/entities/case-attachment/v1", token = token,
                                 query = { { "id", up.json.resources[1].id } } }
            assert.equal(18, resp.curl_exit)
            assert.equal("100000", resp.headers["content-length"])
            assert.equal(50000, #resp.body)
        end)

        it("malformed sends a complete body that is not JSON", function()
            e:control("faults", { route = QUERY, kind = "malformed" })
            local resp = query()
            assert.equal(0, resp.curl_exit)
            assert.equal(200, resp.status)
            assert.equal("application/json", resp.headers["content-type"])
            assert.is_true(#resp.body > 0)
            assert.is_nil(resp.json)
            e:control("faults", { route = QUERY, kind = "malformed", body = "{\"meta\": nope" })
            assert.equal("{\"meta\": nope", query().body)
        end)

        it("headers adds or replaces response headers, control characters and all", function()
            e:control("faults", { route = QUERY, headers = { ["X-Ratelimit-Limit"] = "0.001",
                                                             ["X-Cs-Traceid"] = "t\27[31m\7", ["X-Extra"] = "1" } })
            local resp = query()
            assert.equal(200, resp.status)
            assert.equal("0.001", resp.headers["x-ratelimit-limit"])
            assert.equal("t\27[31m\7", resp.headers["x-cs-traceid"])
            assert.equal("1", resp.headers["x-extra"])
            assert.equal(2, #resp.json.resources)
            assert.equal("headers", e:requests()[2].fault)
            -- combined with a status: a 429 whose Retry-After is garbage
            e:control("faults", { route = QUERY, status = 429, headers = { ["Retry-After"] = "soon" } })
            resp = query()
            assert.equal(429, resp.status)
            assert.equal("soon", resp.headers["retry-after"])
            assert.truthy(tonumber(resp.headers["x-ratelimit-retryafter"]))
        end)

        it("rewrite replaces JSON fields of a normal answer", function()
            e:control("faults", { route = QUERY, count = 2, set = { ["meta.pagination.total"] = 1e6,
                                                                    ["meta.pagination.offset"] = "tok",
                                                                    ["resources.1"] = "same", ["meta.trace_id"] = cjson.null } })
            local resp = query()
            assert.equal(200, resp.status)
            assert.equal(1e6, resp.json.meta.pagination.total)
            assert.equal("tok", resp.json.meta.pagination.offset)
            assert.equal("same", resp.json.resources[1])
            assert.equal(2, #resp.json.resources)
            assert.is_nil(resp.json.meta.trace_id)
            assert.equal("rewrite", e:requests()[2].fault)
            assert.equal(1e6, query().json.meta.pagination.total)
            assert.equal(20, query().json.meta.pagination.total)
        end)

        it("delay holds one answer without blocking other requests", function()
            e:control("faults", { route = QUERY, kind = "delay", delay = 1.0 })
            e:clear_log()
            local slow_url = e.url .. QUERY .. "?limit=1"
            local fast_url = e.url .. "/message-center/queries/case-activities/v1?case_id=x"
            local auth = emu.quote("Authorization: Bearer " .. token)
            -- The slow request goes first; the fast one starts 0.2 s later, on its own connection.
            emu.run("(curl -s -o /dev/null -H " .. auth .. " " .. emu.quote(slow_url) .. " &"
                .. " sleep 0.2; curl -s -o /dev/null -H " .. auth .. " " .. emu.quote(fast_url) .. "; wait)")
            local log = e:requests()
            assert.equal(2, #log)
            local slow, fast = log[1], log[2]
            if slow.uri ~= QUERY then slow, fast = fast, slow end
            assert.equal("delay", slow.fault)
            assert.is_true(slow.duration >= 0.95, "slow took " .. slow.duration)
            assert.is_true(fast.duration < 0.5)
            assert.is_true(slow.time < fast.time)
            -- The fast answer was complete while the slow one was still waiting.
            assert.is_true(fast.time + fast.duration < slow.time + slow.duration)
            assert.are_not.equal(slow.connection, fast.connection)
        end)

        it("a delay can be combined with a status", function()
            e:control("faults", { route = QUERY, status = 503, delay = 0.3 })
            e:clear_log()
            assert.equal(503, query().status)
            assert.is_true(e:requests()[1].duration >= 0.29)
        end)
    end)

    it("per-route delays apply to every matching request until cleared", function()
        e:control("delays", { route = "/message-center/queries/*", delay = 0.25 })
        e:clear_log()
        query()
        query()
        e:control("delays", { clear = true })
        query()
        local log = e:requests()
        assert.is_true(log[1].duration >= 0.24)
        assert.is_true(log[2].duration >= 0.24)
        assert.is_true(log[3].duration < 0.2)
    end)

    describe("rate limits", function()
        it("counts down X-Ratelimit-Remaining and answers 429 when the budget is spent", function()
            e:control("config", { rate_limit = { limit = 3, window = 2 } })
            local remaining = {}
            for i = 1, 3 do
                local resp = query()
                assert.equal(200, resp.status)
                assert.equal("3", resp.headers["x-ratelimit-limit"])
                remaining[i] = resp.headers["x-ratelimit-remaining"]
                -- Control requests do not count.
                e:control("state", {})
            end
            assert.same({ "2", "1", "0" }, remaining)
            local limited = query()
            assert.equal(429, limited.status)
            assert.equal(429, limited.json.errors[1].code)
            assert.equal("0", limited.headers["x-ratelimit-remaining"])
            local retry_at = tonumber(limited.headers["x-ratelimit-retryafter"])
            assert.is_true(retry_at > os.time() - 1 and retry_at <= os.time() + 3)
            assert.is_true(tonumber(limited.headers["retry-after"]) >= 1)
            -- Another client has its own budget.
            local other = e:token("dec0de00000000000000000000000002", "ReadOnlySecretForTheFalconluaEmulator002")
            assert.equal(200, e:http{ path = QUERY, token = other }.status)
            -- After the retry time the budget is back.
            local now = tonumber((emu.run("date +%s.%N")))
            emu.run(string.format("sleep %.2f", math.max(retry_at - now, 0) + 0.05))
            local again = query()
            assert.equal(200, again.status)
            assert.equal("2", again.headers["x-ratelimit-remaining"])
        end)
    end)

    describe("request log", function()
        it("records method, uri, args, headers, body, status, timing and connection reuse", function()
            e:clear_log()
            local auth = emu.quote("Authorization: Bearer " .. token)
            -- One curl invocation, two URLs: the second request reuses the connection.
            emu.run("curl -s -o /dev/null -o /dev/null -H " .. auth .. " -H 'X-Test-Header: Yes' "
                .. emu.quote(e.url .. QUERY .. "?limit=1&filter=case.status%3A'open'") .. " "
                .. emu.quote(e.url .. QUERY .. "?limit=2"))
            e:http{ method = "POST", path = "/message-center/entities/cases/GET/v1", token = token,
                    json = '{"ids":["abc"]}' }
            local log = e:requests()
            assert.equal(3, #log)
            local a, b, c = log[1], log[2], log[3]
            assert.equal("GET", a.method)
            assert.equal(QUERY, a.uri)
            assert.equal("limit=1&filter=case.status%3A'open'", a.args)
            assert.equal("Yes", a.headers["x-test-header"])
            assert.equal("Bearer " .. token, a.headers["authorization"])
            assert.equal(200, a.status)
            assert.equal(a.connection, b.connection)
            assert.equal(1, a.connection_requests)
            assert.equal(2, b.connection_requests)
            assert.is_true(b.time >= a.time)
            assert.is_number(a.duration)
            assert.equal("POST", c.method)
            assert.equal('{"ids":["abc"]}', c.body)
            assert.equal(15, c.body_length)
            assert.equal(404, c.status)
            assert.equal("us-1", c.region)
            assert.equal("http", c.scheme)
            assert.is_true(c.id > b.id)
            e:clear_log()
            assert.same({}, e:requests())
        end)
    end)

    describe("control API", function()
        it("rejects bad rules and unknown routes", function()
            assert.has_error(function() e:control("faults", { route = QUERY, status = 200 }) end)
            assert.has_error(function() e:control("faults", { status = 500 }) end)
            assert.has_error(function() e:control("faults", { route = QUERY, kind = "explode" }) end)
            assert.has_error(function() e:control("faults", { route = QUERY, kind = "headers" }) end)
            assert.has_error(function() e:control("faults", { route = QUERY, headers = { ["Bad Name"] = "x" } }) end)
            assert.has_error(function() e:control("faults", { route = QUERY, headers = { ["X-A"] = 1 } }) end)
            assert.has_error(function() e:control("faults", { route = QUERY, kind = "rewrite" }) end)
            assert.has_error(function() e:control("faults", { route = QUERY, set = { ["meta..x"] = 1 } }) end)
            assert.has_error(function() e:control("config", { nonsense = 1 }) end)
            assert.has_error(function() e:control("seed", { cases = -1 }) end)
            assert.has_error(function() e:control("nothing", {}) end)
        end)

        it("config adds API clients at run time", function()
            e:control("config", { clients = { { client_id = "new-client", client_secret = "s3cret",
                                                scopes = { "message-center:read" }, region = "eu-1" } } })
            local resp = e:http{ method = "POST", path = "/oauth2/token",
                                 headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
                                 body = "client_id=new-client&client_secret=s3cret" }
            assert.equal(201, resp.status)
            assert.equal("eu-1", resp.headers["x-cs-region"])
            local eu = e:http{ base = e.regions["eu-1"], path = QUERY, token = resp.json.access_token }
            assert.equal(200, eu.status)
            -- reset forgets run-time clients.
            e:control("reset", {})
            resp = e:http{ method = "POST", path = "/oauth2/token",
                           headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
                           body = "client_id=new-client&client_secret=s3cret" }
            assert.equal(403, resp.status)
        end)
    end)
end)
