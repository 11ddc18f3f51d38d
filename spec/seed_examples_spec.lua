-- luacheck: no max line length
-- Every example of the two seed documents (../shared/seeds: the Message Center docs and the
-- response-handling docs), translated literally to Lua: the same operation, the same keyword names and
-- the same value types as the document (offset="string" stays a string; the placeholder values become
-- real ones), run against the emulator in the three styles (PEP8 service method, Operation-ID service
-- method, Uber command), each asserting the status and the effect.
local api = require "spec.helpers.api"
local falcon = require "falcon"
local json = require "falcon.json"

local STYLES = { "pep8", "opid", "uber" }

describe("seed examples, as written (against the emulator)", function()
  local e, CLIENT_ID, CLIENT_SECRET, BASE_URL
  local user_uuid, seeded_case

  setup(function()
    e = api.start()
    CLIENT_ID, CLIENT_SECRET, BASE_URL = e.client_id, e.client_secret, e.url
    local mc = falcon.MessageCenter { client_id = CLIENT_ID, client_secret = CLIENT_SECRET, base_url = BASE_URL }
    seeded_case = mc:query_cases { limit = 1, sort = "case.created_time.asc" }.body.resources[1]
    user_uuid = mc:get_cases(seeded_case).body.resources[1].assigner.uuid
  end)

  teardown(function()
    if e then e:stop() end
  end)

  -- The object each style calls, built as the docs build it (credentials as keywords; the emulator's URL).
  local function object(style, class, extra)
    local opts = { client_id = CLIENT_ID, client_secret = CLIENT_SECRET, base_url = BASE_URL }
    for k, v in pairs(extra or {}) do opts[k] = v end
    if style == "uber" then return falcon.APIHarnessV2(opts) end
    return falcon[class](opts)
  end

  -- One call in a style: service `falcon.pep8(...)`, `falcon.OperationId(...)`, or `falcon.command("OperationId", ...)`.
  local function call(style, falcon_object, pep8, operation_id, kwargs)
    if style == "uber" then return falcon_object:command(operation_id, kwargs) end
    local name = style == "pep8" and pep8 or operation_id
    return falcon_object[name](falcon_object, kwargs)
  end

  local function ok(response)
    assert.is_table(response)
    assert.equal(200, response.status_code, json.encode(response.body))
    return response
  end

  -- A case of our own to write to (CreateCaseV2, itself one of the examples below).
  local function new_case(title)
    local falcon_mc = object("pep8", "MessageCenter")
    local r = falcon_mc:create_case_v2 { content = "case body", title = title, type = "fc:contact", user_uuid = user_uuid }
    return ok(r).body.resources[1].id
  end

  local function case_record(id)
    return ok(object("pep8", "MessageCenter"):get_cases { ids = id }).body.resources[1]
  end

  describe("Message Center", function()
    for _, style in ipairs(STYLES) do
      it("AggregateCases (" .. style .. ")", function()
        local falcon_mc = object(style, "MessageCenter")
        local date_ranges = { { from = "2021-05-15T14:55:21.892315096Z", to = "2026-05-17T13:42:16.493180643Z" } }
        local ranges = { { From = 1, To = 100 } }
        local response
        if style == "uber" then
          local BODY = { {
            date_ranges = date_ranges, field = "case.created_time", filter = "case.status:'open'", interval = "month",
            min_doc_count = 0, missing = "none", name = "opened", q = "", ranges = ranges, size = 0, sort = "_count|desc",
            sub_aggregates = { json.null }, time_zone = "UTC", type = "date_range",
          } }
          response = falcon_mc:command("AggregateCases", { body = BODY })
        else
          response = call(style, falcon_mc, "aggregate_cases", "AggregateCases", {
            date_ranges = date_ranges, field = "case.created_time", filter = "case.status:'open'", interval = "month",
            min_doc_count = 0, missing = "none", name = "opened", q = "", ranges = ranges, size = 10,
            sort = "_count|desc", time_zone = "UTC", type = "date_range" })
        end
        ok(response)
        local aggregate = response.body.resources[1]
        assert.equal("opened", aggregate.name)
        -- the bucket counts the open cases created inside the range
        local expected = object("pep8", "MessageCenter"):query_cases {
          filter = "case.status:'open'+case.created_time:>='2021-05-15T14:55:21Z'+case.created_time:<='2026-05-17T13:42:16Z'",
          limit = 1 }.body.meta.pagination.total
        assert.is_true(expected > 0)
        assert.equal(expected, aggregate.buckets[1].count)
      end)

      it("GetCaseActivityByIds (" .. style .. ")", function()
        local case_id = new_case("activities " .. style)
        local writer = object("pep8", "MessageCenter")
        local ids = {}
        for i = 1, 3 do
          ids[i] = ok(writer:add_case_activity { case_id = case_id, content = "note " .. i, type = "comment",
            user_uuid = user_uuid }).body.resources[1].id
        end
        local falcon_mc = object(style, "MessageCenter")
        local response
        if style == "uber" then
          local id_list = { ids[1], ids[2], ids[3] }
          local BODY = { ids = id_list }
          response = falcon_mc:command("GetCaseActivityByIds", { body = BODY })
        else
          local id_list = table.concat(ids, ",") -- 'ID1,ID2,ID3'
          response = call(style, falcon_mc, "get_case_activity", "GetCaseActivityByIds", { ids = id_list })
        end
        ok(response)
        local got = {}
        for _, a in ipairs(response.body.resources) do got[a.id] = a.body end
        assert.same({ [ids[1]] = "note 1", [ids[2]] = "note 2", [ids[3]] = "note 3" }, got)
      end)

      it("CaseAddActivity (" .. style .. ")", function()
        local case_id = new_case("comment " .. style)
        local falcon_mc = object(style, "MessageCenter")
        local content = "comment by the " .. style .. " example"
        local response
        if style == "uber" then
          -- Raw BODY payload uses the key `body` not `content`
          local BODY = { body = content, case_id = case_id, type = "comment", user_uuid = user_uuid }
          response = falcon_mc:command("CaseAddActivity", { body = BODY })
        else
          response = call(style, falcon_mc, "add_case_activity", "CaseAddActivity",
            { case_id = case_id, content = content, type = "comment", user_uuid = user_uuid })
        end
        local id = ok(response).body.resources[1].id
        local activity = ok(object("pep8", "MessageCenter"):get_case_activity { ids = id }).body.resources[1]
        assert.equal(content, activity.body)
        assert.equal(case_id, activity.case_id)
      end)

      it("CaseAddAttachment and CaseDownloadAttachment (" .. style .. ")", function()
        local case_id = new_case("attachment " .. style)
        local falcon_mc = object(style, "MessageCenter")
        -- FILENAME = "testfile.png"; PAYLOAD = open(FILENAME, 'rb').read()
        local PAYLOAD = "\137PNG\r\n\26\n\0\0\0\rIHDR" .. string.rep("\0\255", 64) .. style
        local response
        if style == "uber" then
          response = falcon_mc:command("CaseAddAttachment",
            { data = PAYLOAD, case_id = case_id, user_uuid = user_uuid, content_type = "multipart/form-data" })
        else
          response = call(style, falcon_mc, "add_case_attachment", "CaseAddAttachment",
            { case_id = case_id, file_data = PAYLOAD, user_uuid = user_uuid })
        end
        local attachment_id = ok(response).body.resources[1].id
        assert.truthy(attachment_id)
        -- save_file.write(falcon.download_case_attachment(id="string"))
        local bytes
        if style == "uber" then
          bytes = falcon_mc:command("CaseDownloadAttachment", { id = attachment_id })
        else
          bytes = call(style, falcon_mc, "download_case_attachment", "CaseDownloadAttachment", { id = attachment_id })
        end
        local save_file = os.tmpname()
        local f = assert(io.open(save_file, "wb"))
        f:write(bytes)
        f:close()
        assert.equal(PAYLOAD, api.read(save_file))
        os.remove(save_file)
      end)

      for _, version in ipairs { "CreateCase", "CreateCaseV2" } do
        it(version .. " (" .. style .. ")", function()
          local falcon_mc = object(style, "MessageCenter")
          local detect_list = { { id = "ldt:0123456789abcdef0123456789abcdef:42", url = "https://falcon.crowdstrike.com/detections/42" } }
          if version == "CreateCaseV2" then detect_list[1].product = "epp" end
          local incident_list = { { id = "inc:0123456789abcdef0123456789abcdef:1", url = "https://falcon.crowdstrike.com/incidents/1" } }
          local title = version .. " via " .. style
          local response
          if style == "uber" then
            -- Raw BODY payload uses the key `body` not `content`
            local BODY = { body = "case content", detections = detect_list, incidents = incident_list,
                           title = title, type = "fc:contact", user_uuid = user_uuid }
            response = falcon_mc:command(version, { body = BODY })
          else
            response = call(style, falcon_mc, version == "CreateCase" and "create_case" or "create_case_v2", version,
              { content = "case content", detections = detect_list, incidents = incident_list, title = title,
                type = "fc:contact", user_uuid = user_uuid })
          end
          local case = case_record(ok(response).body.resources[1].id)
          assert.equal(title, case.title)
          assert.equal("case content", case.body)
          assert.equal(detect_list[1].id, case.detections[1].id)
          assert.equal(incident_list[1].id, case.incidents[1].id)
        end)
      end

      it("UpdateCase (" .. style .. ")", function()
        local case_id = new_case("update " .. style)
        local falcon_mc = object(style, "MessageCenter")
        local detect_list = { { id = "ldt:fedcba9876543210fedcba9876543210:7", url = "https://falcon.crowdstrike.com/detections/7" } }
        local incident_list = { { id = "inc:fedcba9876543210fedcba9876543210:2", url = "https://falcon.crowdstrike.com/incidents/2" } }
        local response
        if style == "uber" then
          local BODY = { body = "updated content", detections = detect_list, incidents = incident_list, id = case_id }
          response = falcon_mc:command("UpdateCase", { body = BODY })
        else
          response = call(style, falcon_mc, "update_case", "UpdateCase",
            { content = "updated content", detections = detect_list, id = case_id, incidents = incident_list })
        end
        ok(response)
        local case = case_record(case_id)
        assert.equal("updated content", case.body)
        assert.equal(detect_list[1].id, case.detections[1].id)
        assert.equal(incident_list[1].id, case.incidents[1].id)
      end)

      it("GetCaseEntitiesByIDs (" .. style .. ")", function()
        local falcon_mc = object(style, "MessageCenter")
        local ids = object("pep8", "MessageCenter"):query_cases { limit = 3, sort = "case.id.asc" }.body.resources
        local response
        if style == "uber" then
          local id_list = { ids[1], ids[2], ids[3] }
          response = falcon_mc:command("GetCaseEntitiesByIDs", { body = { ids = id_list } })
        else
          local id_list = table.concat(ids, ",") -- 'ID1,ID2,ID3'
          response = call(style, falcon_mc, "get_cases", "GetCaseEntitiesByIDs", { ids = id_list })
        end
        ok(response)
        local got = {}
        for i, case in ipairs(response.body.resources) do got[i] = case.id end
        table.sort(got)
        assert.same(ids, got)
      end)

      it("QueryActivityByCaseID, offset as the docs type it (" .. style .. ")", function()
        local case_id = new_case("query activities " .. style)
        local writer = object("pep8", "MessageCenter")
        for i = 1, 4 do
          ok(writer:add_case_activity { case_id = case_id, content = "entry " .. i, type = "comment", user_uuid = user_uuid })
        end
        local falcon_mc = object(style, "MessageCenter")
        local first = ok(call(style, falcon_mc, "query_activities", "QueryActivityByCaseID", {
          case_id = case_id, limit = 10, sort = "activity.created_time.asc", filter = "activity.type:'comment'", offset = "0" }))
        assert.equal(4, #first.body.resources)
        e:clear_log()
        local response = ok(call(style, falcon_mc, "query_activities", "QueryActivityByCaseID", {
          case_id = case_id, limit = 2, sort = "activity.created_time.asc", filter = "activity.type:'comment'", offset = "2" }))
        assert.same({ first.body.resources[3], first.body.resources[4] }, response.body.resources)
        -- what FalconPy puts on the wire: the string's own text
        local query = api.sorted_query(api.last(e))
        assert.same({ "offset", "2" }, query[4])
      end)

      it("QueryCasesIdsByFilter, offset as the docs type it (" .. style .. ")", function()
        local falcon_mc = object(style, "MessageCenter")
        local all = ok(call(style, falcon_mc, "query_cases", "QueryCasesIdsByFilter", {
          limit = 6, sort = "case.id.asc", filter = "case.status:'open'", offset = "0" })).body.resources
        assert.equal(6, #all)
        e:clear_log()
        local response = ok(call(style, falcon_mc, "query_cases", "QueryCasesIdsByFilter", {
          limit = 3, sort = "case.id.asc", filter = "case.status:'open'", offset = "3" }))
        assert.same({ all[4], all[5], all[6] }, response.body.resources)
        assert.equal(3, response.body.meta.pagination.offset)
        local sent = {}
        for _, pair in ipairs(api.query(api.last(e))) do sent[pair[1]] = pair[2] end
        assert.equal("3", sent.offset)
        assert.equal("3", sent.limit)
      end)
    end
  end)

  describe("response handling", function()
    local file_sha = "50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c"

    for _, style in ipairs(STYLES) do
      it("binary responses: get_sample(password_protected=True, ids=file_sha) (" .. style .. ")", function()
        local falcon_samples = object(style, "SampleUploads")
        local response = call(style, falcon_samples, "get_sample", "GetSampleV3", { password_protected = true, ids = file_sha })
        local save_file = os.tmpname()
        local save_to = assert(io.open(save_file, "wb"))
        save_to:write(response)
        save_to:close()
        local zip = api.read(save_file)
        os.remove(save_file)
        assert.equal("PK\3\4", zip:sub(1, 4))
        assert.truthy(zip:find("falconlua emulator sample", 1, true))
        assert.truthy(zip:find("PK\5\6", 1, true))
        e:clear_log()
        -- Result object expansion: (status_code, headers, content)
        local status, headers, content = call(style, falcon_samples, "get_sample", "GetSampleV3", { ids = file_sha, expand_result = true })
        assert.equal(200, status)
        assert.equal("application/octet-stream", headers["Content-Type"])
        assert.equal("MZ", content:sub(1, 2))
        assert.truthy(content:find("not malware", 1, true))
        local sent = api.query(api.last(e))
        assert.same({ { "ids", file_sha } }, sent)
      end)

      it("JSON responses: the offset loop over query_devices_by_filter (" .. style .. ")", function()
        local falcon_hosts = object(style, "Hosts")
        local max_rows = 100
        local total = 1
        local offset = 0
        local all_ids = {}
        local pages = 0
        while offset < total do
          local response = call(style, falcon_hosts, "query_devices_by_filter", "QueryDevicesByFilter",
            { sort = "hostname|asc", limit = max_rows, offset = offset })
          if response.status_code == 200 then
            local result = response.body
            offset = result.meta.pagination.offset
            total = result.meta.pagination.total
            for _, id in ipairs(result.resources) do all_ids[#all_ids + 1] = id end
            pages = pages + 1
          else
            error(json.encode(response.body.errors))
          end
        end
        assert.equal(300, total)
        assert.equal(3, pages)
        assert.equal(total, #all_ids)
        local unique = {}
        for _, id in ipairs(all_ids) do unique[id] = true end
        local n = 0
        for _ in pairs(unique) do n = n + 1 end
        assert.equal(total, n)
      end)

      it("deep pagination with after tokens: query_vulnerabilities, last_seen_within (" .. style .. ")", function()
        local spotlight = object(style, "SpotlightVulnerabilities")
        local LIMIT = 400
        local FILTER = "last_seen_within:'45'"
        local id_list = {}
        local total = 1
        local position = nil
        while #id_list < total do
          local returned = call(style, spotlight, "query_vulnerabilities", "queryVulnerabilities",
            { limit = LIMIT, filter = FILTER, after = position })
          assert.equal(200, returned.status_code, json.encode(returned.body))
          local page = returned.body.meta.pagination
          total = page.total
          position = page.after
          for _, id in ipairs(returned.body.resources) do id_list[#id_list + 1] = id end
        end
        -- seen 0..89 days ago, (i * 7) mod 90 days for the i-th of 250: 128 within 45 days
        assert.equal(128, total)
        assert.equal(total, #id_list)
        local narrower = call(style, spotlight, "query_vulnerabilities", "queryVulnerabilities", { limit = 1, filter = "last_seen_within:'10'" })
        assert.is_true(narrower.body.meta.pagination.total < total)
      end)

      it("deep pagination with markers: query_indicator_entities from now (" .. style .. ")", function()
        local intel = object(style, "Intel")
        local current_page = os.time() -- datetime.datetime.now().timestamp()
        local indicators_list = {}
        local LIMIT = 5000
        local SORT = "_marker.asc"
        local total = 1
        local rounds = 0
        while total > 0 do
          rounds = rounds + 1
          assert.is_true(rounds < 10, "the marker loop did not end")
          local returned = call(style, intel, "query_indicator_entities", "QueryIntelIndicatorEntities",
            { filter = "_marker:>='" .. current_page .. "'", limit = LIMIT, sort = SORT })
          assert.equal(200, returned.status_code, json.encode(returned.body))
          local page = returned.body.meta.pagination
          total = page.total
          for _, indicator in ipairs(returned.body.resources) do indicators_list[#indicators_list + 1] = indicator end
          current_page = indicators_list[#indicators_list] and indicators_list[#indicators_list]._marker or ""
        end
        -- the emulator's indicators were published before now: none is at or after the marker
        assert.equal(0, #indicators_list)
      end)

      it("paginating GraphQL operations: idp.graphql(query=IDP_QUERY, variables=variables) (" .. style .. ")", function()
        local IDP_QUERY = [[
query ($after: Cursor) {
  entities(types: [USER], archived: false, learned: false, first: 5, after: $after) {
    nodes {
      primaryDisplayName
      secondaryDisplayName
      accounts {
        ... on ActiveDirectoryAccountDescriptor {
          domain
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
]]
        local idp = object(style, "IdentityProtection")
        local running = true
        local returned_nodes = {}
        local variables = nil
        local pages = 0
        while running do
          local result = call(style, idp, "graphql", "api_preempt_proxy_post_graphql", { query = IDP_QUERY, variables = variables })
          assert.equal(200, result.status_code, json.encode(result.body))
          local entities = result.body.data.entities
          assert.truthy(entities, "No results returned.")
          pages = pages + 1
          if entities.nodes then
            for _, node in ipairs(entities.nodes) do returned_nodes[#returned_nodes + 1] = node end
            if entities.pageInfo.hasNextPage then
              variables = { after = entities.pageInfo.endCursor }
            else
              running = false
            end
          else
            running = false
          end
        end
        assert.is_true(pages > 2)
        assert.is_true(#returned_nodes > 10)
        for _, node in ipairs(returned_nodes) do
          assert.is_string(node.primaryDisplayName)
          assert.equal("corp.example.com", node.accounts[1].domain)
        end
      end)

      it("pythonic responses: iterate, details, prune, APIError (" .. style .. ")", function()
        local hosts = object(style, "Hosts", { pythonic = true })
        local result = call(style, hosts, "query_devices_by_filter_scroll", "QueryDevicesByFilterScroll", {})
        assert.is_nil(result.raw)
        local listed = {}
        for device_id in result do listed[#listed + 1] = device_id end
        assert.equal(100, #listed)
        assert.same(result.data, listed)

        local details = call(style, hosts, "get_device_details", "GetDeviceDetails", { ids = result.data })
        assert.is_nil(details.raw)
        local hostnames = 0
        for device_info in details do
          assert.is_string(device_info.hostname)
          hostnames = hostnames + 1
        end
        assert.equal(100, hostnames)

        local prefix = result[1]:sub(1, 2)
        local pruned = result:prune(prefix)
        assert.is_true(#pruned >= 1)
        for _, id in ipairs(pruned) do assert.truthy(id:find(prefix, 1, true)) end

        local falcon_groups = object(style, "HostGroup", { pythonic = true })
        local ok_call, api_error = pcall(function()
          if style == "uber" then return falcon_groups:command("getHostGroups", "12345678901234567890123456789012") end
          return falcon_groups[style == "pep8" and "get_host_groups" or "getHostGroups"](falcon_groups, "12345678901234567890123456789012")
        end)
        assert.is_false(ok_call)
        assert.is_true(falcon.APIError.is(api_error))
        assert.equal(404, api_error.status_code)
      end)
    end
  end)
end)
