-- Emulator: the 11 Message Center operations (attachments have their own spec), their envelopes
-- and their validation errors.
local cjson = require "cjson"
local emu = require "spec.helpers.emulator"

describe("emulator message center", function()
    local e, token

    setup(function()
        e = emu.start()
        token = e:token()
    end)
    teardown(function()
        if e then e:stop() end
    end)
    before_each(function()
        e:control("reset", { seed = { seed = 7, cases = 30 } })
        token = e:token()
    end)

    local function get(path, query)
        return e:http{ path = path, token = token, query = query }
    end
    local function post(path, body, method)
        return e:http{ method = method or "POST", path = path, token = token,
                       json = type(body) == "string" and body or cjson.encode(body) }
    end

    local function assert_envelope(resp)
        local meta = resp.json.meta
        assert.is_number(meta.query_time)
        assert.equal("messagecenter-api", meta.powered_by)
        assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", meta.trace_id)
        assert.equal(meta.trace_id, resp.headers["x-cs-traceid"])
        assert.is_table(resp.json.errors)
        assert.equal("application/json", resp.headers["content-type"])
    end

    local function assert_error(resp, status, pattern)
        assert.equal(status, resp.status)
        assert_envelope(resp)
        assert.equal(status, resp.json.errors[1].code)
        if pattern then
            assert.matches(pattern, resp.json.errors[1].message)
        end
    end

    describe("QueryCasesIdsByFilter", function()
        it("returns ids with offset/limit/total pagination", function()
            local resp = get("/message-center/queries/cases/v1", { { "limit", 7 }, { "offset", 5 } })
            assert.equal(200, resp.status)
            assert_envelope(resp)
            assert.same({}, resp.json.errors)
            assert.equal(7, #resp.json.resources)
            assert.same({ offset = 5, limit = 7, total = 30 }, resp.json.meta.pagination)
            for _, id in ipairs(resp.json.resources) do
                assert.matches("^%x+$", id)
                assert.equal(32, #id)
            end
            local past = get("/message-center/queries/cases/v1", { { "offset", 100 } })
            assert.equal(200, past.status)
            assert.same({}, past.json.resources)
            assert.equal(30, past.json.meta.pagination.total)
        end)

        it("rejects limit outside 1..500, bad offsets, unknown sort fields and bad FQL", function()
            assert_error(get("/message-center/queries/cases/v1", { { "limit", 0 } }), 400, "limit")
            assert_error(get("/message-center/queries/cases/v1", { { "limit", 501 } }), 400, "limit")
            assert.equal(200, get("/message-center/queries/cases/v1", { { "limit", 500 } }).status)
            assert_error(get("/message-center/queries/cases/v1", { { "limit", "ten" } }), 400, "limit")
            assert_error(get("/message-center/queries/cases/v1", { { "offset", -1 } }), 400, "offset")
            assert_error(get("/message-center/queries/cases/v1", { { "sort", "case.nope.asc" } }), 400, "sort")
            assert_error(get("/message-center/queries/cases/v1", { { "filter", "case.status:'open" } }), 400, "filter")
            assert_error(get("/message-center/queries/cases/v1", { { "filter", "case.nope:'x'" } }), 400, "unknown field")
            assert_error(get("/message-center/queries/cases/v1", { { "filter", "case.created_time:>'yesterday'" } }),
                400, "date")
        end)

        it("ANDs repeated filter parameters", function()
            local both = get("/message-center/queries/cases/v1",
                { { "filter", "case.status:'open'" }, { "filter", "case.type:'mdr'" } })
            local joined = get("/message-center/queries/cases/v1", { { "filter", "case.status:'open'+case.type:'mdr'" } })
            assert.equal(200, both.status)
            assert.same(joined.json.resources, both.json.resources)
        end)
    end)

    describe("GetCaseEntitiesByIDs", function()
        it("returns cases shaped as MessagesCase", function()
            local ids = get("/message-center/queries/cases/v1", { { "limit", 3 } }).json.resources
            local resp = post("/message-center/entities/cases/GET/v1", { ids = ids })
            assert.equal(200, resp.status)
            assert_envelope(resp)
            assert.equal(3, #resp.json.resources)
            local c = resp.json.resources[1]
            assert.equal(ids[1], c.id)
            for _, key in ipairs({ "aids", "attachments", "detections", "hosts", "incidents", "ip_addresses" }) do
                assert.is_table(c[key], key)
            end
            for _, key in ipairs({ "body", "cid", "created_time", "key", "last_modified_time", "status", "title", "type",
                                   "malware_submission_id", "malware_submission_url", "recon_rule_type", "rfi_id" }) do
                assert.is_string(c[key], key)
            end
            for _, key in ipairs({ "display_name", "first_name", "last_name", "uid", "uuid" }) do
                assert.is_string(c.assigner[key], key)
            end
            assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", c.created_time)
            assert.matches("^CS%-%d+$", c.key)
        end)

        it("answers 404 listing unknown ids, with the found ones in resources", function()
            local ids = get("/message-center/queries/cases/v1", { { "limit", 2 } }).json.resources
            local resp = post("/message-center/entities/cases/GET/v1", { ids = { ids[1], "missing1", ids[2], "missing2" } })
            assert_error(resp, 404)
            assert.equal(2, #resp.json.errors)
            assert.equal("missing1", resp.json.errors[1].id)
            assert.equal("missing2", resp.json.errors[2].id)
            assert.equal(2, #resp.json.resources)
            assert.equal(ids[1], resp.json.resources[1].id)
        end)

        it("requires ids and a JSON body", function()
            assert_error(post("/message-center/entities/cases/GET/v1", {}), 400, "ids")
            assert_error(post("/message-center/entities/cases/GET/v1", { ids = {} }), 400, "ids")
            assert_error(post("/message-center/entities/cases/GET/v1", "{not json"), 400, "JSON")
            assert_error(e:http{ method = "POST", path = "/message-center/entities/cases/GET/v1", token = token }, 400,
                "body")
        end)
    end)

    describe("CreateCaseV2 / CreateCase / UpdateCase", function()
        it("creates a case (v2) that the query and lookup operations then see", function()
            local resp = post("/message-center/entities/case/v2", {
                title = "Need help", type = "fc:contact", body = "It's broken", user_uuid = "user-1",
                detections = { { id = "ldt:abc:1", product = "epp", url = "https://x/1" } },
                incidents = { { id = "inc:abc:2", url = "https://x/2" } },
                malware_submission_id = "", recon_rule_type = "",
            })
            assert.equal(200, resp.status)
            assert_envelope(resp)
            assert.equal(1, resp.json.meta.writes.resources_affected)
            local id = resp.json.resources[1].id
            assert.equal(32, #id)
            local found = get("/message-center/queries/cases/v1", { { "filter", "case.title:'Need help'" } })
            assert.same({ id }, found.json.resources)
            local c = post("/message-center/entities/cases/GET/v1", { ids = { id } }).json.resources[1]
            assert.equal("It's broken", c.body)
            assert.equal("open", c.status)
            assert.equal("ldt:abc:1", c.detections[1].id)
            assert.equal("epp", c.detections[1].product)
            assert.equal("inc:abc:2", c.incidents[1].id)
            assert.equal("user-1", c.assigner.uuid)
            assert.equal(31, get("/message-center/queries/cases/v1").json.meta.pagination.total)
        end)

        it("still serves the decommissioned CreateCase (v1)", function()
            local resp = post("/message-center/entities/case/v1", {
                title = "Old style", type = "fc:contact", body = "b", user_uuid = "u",
                detections = { { id = "ldt:1", url = "u" } }, incidents = {},
            })
            assert.equal(200, resp.status)
            assert.equal(32, #resp.json.resources[1].id)
        end)

        it("validates required fields of a new case", function()
            assert_error(post("/message-center/entities/case/v2", { type = "x", body = "b" }), 400, "title")
            assert_error(post("/message-center/entities/case/v2", { title = "t", body = "b" }), 400, "type")
            assert_error(post("/message-center/entities/case/v1", { title = "t", type = "x" }), 400, "body")
            assert_error(post("/message-center/entities/case/v2", { title = "t", type = "x", body = "b",
                                                                     detections = { { url = "no id" } } }), 400, "id")
            assert_error(post("/message-center/entities/case/v2", "[1,2]"), 400, "object")
        end)

        it("updates a case (PATCH v1): body replaced, detections and incidents added", function()
            local id = get("/message-center/queries/cases/v1", { { "limit", 1 } }).json.resources[1]
            local before = post("/message-center/entities/cases/GET/v1", { ids = { id } }).json.resources[1]
            local resp = post("/message-center/entities/case/v1", {
                id = id, body = "new body", detections = { { id = "ldt:new:1", url = "u" } },
                incidents = { { id = "inc:new:1", url = "u" } },
            }, "PATCH")
            assert.equal(200, resp.status)
            assert.equal(id, resp.json.resources[1].id)
            local after = post("/message-center/entities/cases/GET/v1", { ids = { id } }).json.resources[1]
            assert.equal("new body", after.body)
            assert.equal(#before.detections + 1, #after.detections)
            assert.equal("ldt:new:1", after.detections[#after.detections].id)
            assert.equal("inc:new:1", after.incidents[#after.incidents].id)
            assert.is_true(after.last_modified_time > before.last_modified_time)
        end)

        it("answers 404 for updates of unknown cases and 400 without an id", function()
            local resp = post("/message-center/entities/case/v1", { id = "nope", body = "b" }, "PATCH")
            assert_error(resp, 404)
            assert.equal("nope", resp.json.errors[1].id)
            assert_error(post("/message-center/entities/case/v1", { body = "b" }, "PATCH"), 400, "id")
        end)
    end)

    describe("activities", function()
        local case_id
        before_each(function()
            case_id = get("/message-center/queries/cases/v1", { { "limit", 1 } }).json.resources[1]
        end)

        local function add(body)
            return post("/message-center/entities/case-activity/v1", body)
        end

        it("adds comments, queries them by case id and looks them up", function()
            local start = get("/message-center/queries/case-activities/v1", { { "case_id", case_id } }).json.meta.pagination.total
            local a = add({ case_id = case_id, type = "comment", user_uuid = "u-1", body = "first" })
            assert.equal(200, a.status)
            assert_envelope(a)
            local b = add({ case_id = case_id, type = "comment", user_uuid = "u-2", body = "second" })
            local ids = { a.json.resources[1].id, b.json.resources[1].id }
            local q = get("/message-center/queries/case-activities/v1",
                { { "case_id", case_id }, { "sort", "activity.created_time.desc" }, { "limit", 500 } })
            assert.equal(200, q.status)
            assert.equal(start + 2, q.json.meta.pagination.total)
            local listed = {}
            for _, id in ipairs(q.json.resources) do listed[id] = true end
            assert.is_true(listed[ids[1]] and listed[ids[2]])
            local got = post("/message-center/entities/case-activities/GET/v1", { ids = ids })
            assert.equal(200, got.status)
            assert.equal("first", got.json.resources[1].body)
            assert.equal("comment", got.json.resources[1].type)
            assert.equal(case_id, got.json.resources[1].case_id)
            assert.equal("u-2", got.json.resources[2].created_by.uuid)
            local filtered = get("/message-center/queries/case-activities/v1",
                { { "case_id", case_id }, { "filter", "activity.type:!'comment'" } })
            assert.equal(0, filtered.json.meta.pagination.total)
        end)

        it("accepts only activities of type comment", function()
            assert_error(add({ case_id = case_id, type = "note", user_uuid = "u", body = "b" }), 400, "comment")
        end)

        it("validates the activity body and the case", function()
            for _, missing in ipairs({ "case_id", "type", "user_uuid", "body" }) do
                local body = { case_id = case_id, type = "comment", user_uuid = "u", body = "b" }
                body[missing] = nil
                assert_error(add(body), 400, missing)
            end
            local resp = add({ case_id = "nope", type = "comment", user_uuid = "u", body = "b" })
            assert_error(resp, 404)
            assert.equal("nope", resp.json.errors[1].id)
        end)

        it("requires case_id when querying and validates limit and sort", function()
            assert_error(get("/message-center/queries/case-activities/v1", {}), 400, "case_id")
            assert_error(get("/message-center/queries/case-activities/v1", { { "case_id", case_id }, { "limit", 501 } }),
                400, "limit")
            assert_error(get("/message-center/queries/case-activities/v1",
                { { "case_id", case_id }, { "sort", "case.created_time.asc" } }), 400, "sort")
            assert_error(get("/message-center/queries/case-activities/v1",
                { { "case_id", case_id }, { "filter", "activity.body:'x'" } }), 400, "unknown field")
        end)

        it("answers 404 for unknown activity ids, listing them", function()
            local a = add({ case_id = case_id, type = "comment", user_uuid = "u", body = "b" }).json.resources[1].id
            local resp = post("/message-center/entities/case-activities/GET/v1", { ids = { a, "gone" } })
            assert_error(resp, 404)
            assert.equal("gone", resp.json.errors[1].id)
            assert.equal(a, resp.json.resources[1].id)
        end)
    end)

    it("answers unknown routes with 404 and wrong methods with 405, both as envelopes", function()
        local nf = e:http{ path = "/message-center/queries/nothing/v1", token = token }
        assert.equal(404, nf.status)
        assert.equal(404, nf.json.errors[1].code)
        local na = e:http{ method = "DELETE", path = "/message-center/queries/cases/v1", token = token }
        assert.equal(405, na.status)
        assert.equal(405, na.json.errors[1].code)
    end)
end)
