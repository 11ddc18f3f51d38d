-- Emulator: OAuth2 token/revoke, token expiry, scopes, member CIDs, regions, TLS, common headers.
local emu = require "spec.helpers.emulator"

local READ_ONLY = { id = "dec0de00000000000000000000000002", secret = "ReadOnlySecretForTheFalconluaEmulator002" }
local US2 = { id = "dec0de00000000000000000000000003", secret = "UsTwoSecretForTheFalconluaEmulator000003" }
local PARENT = { id = "dec0de00000000000000000000000004", secret = "ParentSecretForTheFalconluaEmulator00004",
                 members = { "c1d00000000000000000000000000011", "c1d00000000000000000000000000012" } }

local function form(fields)
    local parts = {}
    for i, pair in ipairs(fields) do
        parts[i] = emu.urlencode(pair[1]) .. "=" .. emu.urlencode(pair[2])
    end
    return table.concat(parts, "&")
end

local FORM = { ["Content-Type"] = "application/x-www-form-urlencoded" }

local function base64(s)
    local out = emu.run("printf '%s' " .. emu.quote(s) .. " | base64 -w0")
    return out
end

describe("emulator oauth2", function()
    local e

    setup(function()
        e = emu.start{ token_lifetime = 1799 }
    end)
    teardown(function()
        if e then e:stop() end
    end)
    before_each(function()
        e:control("reset", {})
    end)

    local function token_request(fields, base)
        return e:http{ method = "POST", base = base, path = "/oauth2/token", headers = FORM, body = form(fields) }
    end

    local function query(token, base)
        return e:http{ base = base, path = "/message-center/queries/cases/v1", token = token,
                       query = { { "limit", 1 } } }
    end

    it("issues a bearer token with 201, expires_in and token_type", function()
        local resp = token_request({ { "client_id", e.client_id }, { "client_secret", e.client_secret } })
        assert.equal(201, resp.status)
        assert.equal("bearer", resp.json.token_type)
        assert.equal(1799, resp.json.expires_in)
        assert.is_true(#resp.json.access_token >= 32)
        assert.equal("us-1", resp.headers["x-cs-region"])
        -- The API names its budget on API answers, not on the token answer.
        assert.is_nil(resp.headers["x-ratelimit-limit"])
        assert.is_nil(resp.headers["x-ratelimit-remaining"])
        local answer = query(resp.json.access_token)
        assert.equal(200, answer.status)
        assert.equal("6000", answer.headers["x-ratelimit-limit"])
    end)

    it("refuses wrong credentials with 403 and missing ones with 400", function()
        local resp = token_request({ { "client_id", e.client_id }, { "client_secret", "wrong" } })
        assert.equal(403, resp.status)
        assert.equal(403, resp.json.errors[1].code)
        assert.equal("access denied, authorization failed", resp.json.errors[1].message)
        assert.truthy(resp.json.meta.trace_id)
        resp = token_request({ { "client_id", "no-such-client" }, { "client_secret", "x" } })
        assert.equal(403, resp.status)
        resp = token_request({ { "client_id", e.client_id } })
        assert.equal(400, resp.status)
        assert.matches("client_secret", resp.json.errors[1].message)
    end)

    it("validates member_cid against the client's children", function()
        local ok = token_request({ { "client_id", PARENT.id }, { "client_secret", PARENT.secret },
                                   { "member_cid", PARENT.members[2] } })
        assert.equal(201, ok.status)
        local bad = token_request({ { "client_id", PARENT.id }, { "client_secret", PARENT.secret },
                                    { "member_cid", "ffff0000000000000000000000000000" } })
        assert.equal(403, bad.status)
        local not_parent = token_request({ { "client_id", e.client_id }, { "client_secret", e.client_secret },
                                           { "member_cid", PARENT.members[1] } })
        assert.equal(403, not_parent.status)
        -- A case created with the member token belongs to the member CID.
        local created = e:http{ method = "POST", path = "/message-center/entities/case/v2", token = ok.json.access_token,
                                json = '{"title":"t","type":"fc:contact","body":"b"}' }
        assert.equal(200, created.status)
        local got = e:http{ method = "POST", path = "/message-center/entities/cases/GET/v1", token = ok.json.access_token,
                            json = '{"ids":["' .. created.json.resources[1].id .. '"]}' }
        assert.equal(PARENT.members[2], got.json.resources[1].cid)
    end)

    it("revokes a token with HTTP Basic auth; the revoked token then gets 401", function()
        local token = e:token()
        assert.equal(200, query(token).status)
        local bad = e:http{ method = "POST", path = "/oauth2/revoke", body = form({ { "token", token } }),
                            headers = { ["Content-Type"] = FORM["Content-Type"],
                                        Authorization = "Basic " .. base64(e.client_id .. ":nope") } }
        assert.equal(403, bad.status)
        assert.equal(200, query(token).status)
        local missing = e:http{ method = "POST", path = "/oauth2/revoke", body = "",
                                headers = { ["Content-Type"] = FORM["Content-Type"],
                                            Authorization = "Basic " .. base64(e.client_id .. ":" .. e.client_secret) } }
        assert.equal(400, missing.status)
        local resp = e:http{ method = "POST", path = "/oauth2/revoke", body = form({ { "token", token } }),
                             headers = { ["Content-Type"] = FORM["Content-Type"],
                                         Authorization = "Basic " .. base64(e.client_id .. ":" .. e.client_secret) } }
        assert.equal(200, resp.status)
        assert.same({}, resp.json.errors)
        local after = query(token)
        assert.equal(401, after.status)
        assert.equal("access denied, invalid bearer token", after.json.errors[1].message)
    end)

    it("answers 401 without a token or with an unknown one", function()
        assert.equal(401, query(nil).status)
        assert.equal(401, query("not-a-token").status)
    end)

    it("expires tokens after the configured lifetime", function()
        e:control("config", { token_lifetime = 1 })
        local resp = token_request({ { "client_id", e.client_id }, { "client_secret", e.client_secret } })
        assert.equal(1, resp.json.expires_in)
        local token = resp.json.access_token
        assert.equal(200, query(token).status)
        emu.run("sleep 1.1")
        assert.equal(401, query(token).status)
    end)

    it("can age tokens on demand through the control API", function()
        local token = e:token()
        assert.equal(1, e:control("tokens", { expire = token }).affected)
        assert.equal(401, query(token).status)
    end)

    it("denies every write operation to a token without message-center:write", function()
        local token = e:token(READ_ONLY.id, READ_ONLY.secret)
        local case_id = query(e:token()).json.resources[1]
        assert.equal(200, query(token).status)
        local writes = {
            { method = "POST", path = "/message-center/entities/case-activity/v1",
              json = '{"case_id":"' .. case_id .. '","type":"comment","user_uuid":"u","body":"b"}' },
            { method = "POST", path = "/message-center/entities/case/v1", json = '{"title":"t","type":"x","body":"b"}' },
            { method = "POST", path = "/message-center/entities/case/v2", json = '{"title":"t","type":"x","body":"b"}' },
            { method = "PATCH", path = "/message-center/entities/case/v1", json = '{"id":"' .. case_id .. '","body":"b"}' },
            { method = "POST", path = "/message-center/entities/case-attachment/v1",
              form = { { name = "case_id", value = case_id }, { name = "user_uuid", value = "u" } } },
        }
        for _, w in ipairs(writes) do
            w.token = token
            local resp = e:http(w)
            assert.equal(403, resp.status, w.method .. " " .. w.path)
            assert.equal("access denied, authorization failed", resp.json.errors[1].message)
        end
        local reads = {
            { method = "POST", path = "/message-center/entities/cases/GET/v1", json = '{"ids":["' .. case_id .. '"]}' },
            { method = "POST", path = "/message-center/aggregates/cases/GET/v1",
              json = '[{"name":"s","type":"terms","field":"case.status"}]' },
            { path = "/message-center/queries/case-activities/v1", query = { { "case_id", case_id } } },
        }
        for _, r in ipairs(reads) do
            r.token = token
            assert.equal(200, e:http(r).status, r.path)
        end
    end)

    it("reports the client's home region from any region's token endpoint", function()
        local resp = token_request({ { "client_id", US2.id }, { "client_secret", US2.secret } }, e.regions["us-1"])
        assert.equal(201, resp.status)
        assert.equal("us-2", resp.headers["x-cs-region"])
        local token = resp.json.access_token
        -- The token is only good in its home region, as in the cloud.
        local wrong = query(token, e.regions["us-1"])
        assert.equal(401, wrong.status)
        assert.equal("us-1", wrong.headers["x-cs-region"])
        local right = query(token, e.regions["us-2"])
        assert.equal(200, right.status)
        assert.equal("us-2", right.headers["x-cs-region"])
    end)

    it("puts X-Cs-Region and X-Cs-Traceid on every response of every region, rate-limit headers on API answers",
       function()
        for name, base in pairs(e.regions) do
            for _, path in ipairs({ "/message-center/queries/cases/v1", "/no/such/route", "/oauth2/token" }) do
                local resp = e:http{ base = base, path = path }
                assert.equal(name, resp.headers["x-cs-region"], path)
                assert.truthy(resp.headers["x-cs-traceid"])
                local api = path ~= "/oauth2/token"
                assert.equal(api, resp.headers["x-ratelimit-limit"] ~= nil, path)
                assert.equal(api, resp.headers["x-ratelimit-remaining"] ~= nil, path)
                assert.equal(resp.headers["x-cs-traceid"], resp.json.meta.trace_id)
            end
        end
    end)

    it("serves HTTPS with a certificate signed by the instance CA", function()
        local token = e:token(nil, nil, e.tls_url)
        local resp = query(token, e.tls_url)
        assert.equal(200, resp.status)
        assert.equal("us-1", resp.headers["x-cs-region"])
        -- Without the CA the certificate is not trusted.
        local _, code = emu.run("curl -sS -o /dev/null " .. emu.quote(e.tls_url .. "/_emulator/ping") .. " 2>/dev/null")
        assert.equal(60, code)
        -- The SAN covers localhost too.
        local port = e.tls_url:match(":(%d+)$")
        local _, ok_code = emu.run("curl -sS -o /dev/null --cacert " .. emu.quote(e.ca)
            .. " https://localhost:" .. port .. "/_emulator/ping")
        assert.equal(0, ok_code)
    end)
end)
