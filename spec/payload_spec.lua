-- luacheck: no max line length
-- Keyword mapping: every Message Center operation in every style (PEP8, Operation ID, Uber)
-- against the emulator, checking what the emulator received; and every rejected input, checking
-- that nothing was sent.
local api = require "spec.helpers.api"
local falcon = require "falcon"

describe("keyword mapping (against the emulator)", function()
  local e, mc, uber, case_ids, case_id, user_uuid, attachment_id, activity_ids

  setup(function()
    e = api.start()
    mc = falcon.MessageCenter(api.opts(e))
    uber = falcon.APIHarnessV2(api.opts(e))
    local r = mc:query_cases{ limit = 3, sort = "case.id.asc" }
    assert.equal(200, r.status_code)
    case_ids = r.body.resources
    case_id = case_ids[1]
    local cases = mc:get_cases(case_ids)
    user_uuid = cases.body.resources[1].assigner.uuid
    local up = mc:add_case_attachment{ case_id = case_id, user_uuid = user_uuid,
      file_data = "attachment bytes\0with a NUL", file_name = "bytes.txt" }
    assert.equal(200, up.status_code)
    attachment_id = up.body.resources[1].id
    activity_ids = mc:query_activities{ case_id = case_id }.body.resources
    assert.is_true(#activity_ids >= 1)
  end)

  teardown(function()
    if e then e:stop() end
  end)

  before_each(function() e:clear_log() end)

  -- One row per operation: the three calls and the request each must produce.
  local rows = {
    {
      op = "QueryCasesIdsByFilter",
      pep8 = function() return mc:query_cases{ limit = 2, sort = "case.id.asc", filter = "case.status:'open'", offset = 1 } end,
      opid = function() return mc:QueryCasesIdsByFilter{ limit = 2, sort = "case.id.asc", filter = "case.status:'open'", offset = 1 } end,
      uber = function() return uber:command("QueryCasesIdsByFilter", { limit = 2, sort = "case.id.asc", filter = "case.status:'open'", offset = 1 }) end,
      check = function(req)
        assert.equal("GET", req.method)
        assert.equal("/message-center/queries/cases/v1", req.path)
        assert.same({ { "filter", "case.status:'open'" }, { "limit", "2" }, { "offset", "1" }, { "sort", "case.id.asc" } },
          api.sorted_query(req))
      end,
    },
    {
      op = "QueryActivityByCaseID",
      pep8 = function() return mc:query_activities{ case_id = case_id, limit = 5, sort = "activity.created_time.desc", filter = "activity.type:'comment'", offset = 0 } end,
      opid = function() return mc:QueryActivityByCaseID{ case_id = case_id, limit = 5, sort = "activity.created_time.desc", filter = "activity.type:'comment'", offset = 0 } end,
      uber = function() return uber:command("QueryActivityByCaseID", { case_id = case_id, limit = 5, sort = "activity.created_time.desc", filter = "activity.type:'comment'", offset = 0 }) end,
      check = function(req)
        assert.equal("GET", req.method)
        assert.equal("/message-center/queries/case-activities/v1", req.path)
        assert.same({ { "case_id", case_id }, { "filter", "activity.type:'comment'" }, { "limit", "5" },
          { "offset", "0" }, { "sort", "activity.created_time.desc" } }, api.sorted_query(req))
      end,
    },
    {
      op = "GetCaseEntitiesByIDs",
      pep8 = function() return mc:get_cases{ ids = table.concat(case_ids, ",") } end,
      opid = function() return mc:GetCaseEntitiesByIDs{ ids = case_ids } end,
      uber = function() return uber:command("GetCaseEntitiesByIDs", { body = { ids = case_ids } }) end,
      check = function(req)
        assert.equal("POST", req.method)
        assert.equal("/message-center/entities/cases/GET/v1", req.path)
        assert.same({ ids = case_ids }, api.body(req))
        assert.truthy(api.header(req, "content-type"):find("application/json", 1, true))
      end,
    },
    {
      op = "GetCaseActivityByIds",
      pep8 = function() return mc:get_case_activity{ ids = table.concat(activity_ids, ",") } end,
      opid = function() return mc:GetCaseActivityByIds{ ids = activity_ids } end,
      uber = function() return uber:command("GetCaseActivityByIds", { body = { ids = activity_ids } }) end,
      check = function(req)
        assert.equal("POST", req.method)
        assert.equal("/message-center/entities/case-activities/GET/v1", req.path)
        assert.same({ ids = activity_ids }, api.body(req))
      end,
    },
    {
      op = "CaseAddActivity",
      pep8 = function() return mc:add_case_activity{ case_id = case_id, content = "hi", type = "comment", user_uuid = user_uuid } end,
      opid = function() return mc:CaseAddActivity{ case_id = case_id, content = "hi", type = "comment", user_uuid = user_uuid } end,
      uber = function() return uber:command("CaseAddActivity", { body = { body = "hi", case_id = case_id, type = "comment", user_uuid = user_uuid } }) end,
      check = function(req)
        assert.equal("POST", req.method)
        assert.equal("/message-center/entities/case-activity/v1", req.path)
        assert.same({ body = "hi", case_id = case_id, type = "comment", user_uuid = user_uuid }, api.body(req))
      end,
    },
    {
      op = "AggregateCases",
      pep8 = function() return mc:aggregate_cases{ field = "case.status", name = "s", size = 5, type = "terms", sort = "_count|desc" } end,
      opid = function() return mc:AggregateCases{ field = "case.status", name = "s", size = 5, type = "terms", sort = "_count|desc" } end,
      uber = function() return uber:command("AggregateCases", { body = { { field = "case.status", name = "s", size = 5, type = "terms", sort = "_count|desc" } } }) end,
      check = function(req)
        assert.equal("POST", req.method)
        assert.equal("/message-center/aggregates/cases/GET/v1", req.path)
        assert.same({ { field = "case.status", name = "s", size = 5, type = "terms", sort = "_count|desc" } }, api.body(req))
      end,
    },
    {
      op = "CreateCaseV2",
      pep8 = function() return mc:create_case_v2{ content = "b", title = "t", type = "fc:contact", user_uuid = user_uuid,
        detections = { { id = "d1", product = "epp", url = "https://x/d1" } }, incidents = {} } end,
      opid = function() return mc:CreateCaseV2{ content = "b", title = "t", type = "fc:contact", user_uuid = user_uuid,
        detections = { { id = "d1", product = "epp", url = "https://x/d1" } }, incidents = {} } end,
      uber = function() return uber:command("CreateCaseV2", { body = { body = "b", title = "t", type = "fc:contact", user_uuid = user_uuid,
        detections = { { id = "d1", product = "epp", url = "https://x/d1" } }, incidents = falcon.json.array() } }) end,
      check = function(req)
        assert.equal("POST", req.method)
        assert.equal("/message-center/entities/case/v2", req.path)
        assert.same({ body = "b", title = "t", type = "fc:contact", user_uuid = user_uuid,
          detections = { { id = "d1", product = "epp", url = "https://x/d1" } }, incidents = {} }, api.body(req))
        assert.truthy(req.body:find('"incidents":[]', 1, true)) -- an array, not {}
      end,
    },
    {
      op = "CreateCase",
      pep8 = function() return mc:create_case{ content = "b", title = "t", type = "fc:contact", user_uuid = user_uuid,
        detections = { { id = "d1", url = "https://x/d1" } }, incidents = { { id = "i1", url = "https://x/i1" } } } end,
      opid = function() return mc:CreateCase{ content = "b", title = "t", type = "fc:contact", user_uuid = user_uuid,
        detections = { { id = "d1", url = "https://x/d1" } }, incidents = { { id = "i1", url = "https://x/i1" } } } end,
      uber = function() return uber:command("CreateCase", { body = { body = "b", title = "t", type = "fc:contact", user_uuid = user_uuid,
        detections = { { id = "d1", url = "https://x/d1" } }, incidents = { { id = "i1", url = "https://x/i1" } } } }) end,
      check = function(req)
        assert.equal("POST", req.method)
        assert.equal("/message-center/entities/case/v1", req.path)
        assert.same({ body = "b", title = "t", type = "fc:contact", user_uuid = user_uuid,
          detections = { { id = "d1", url = "https://x/d1" } }, incidents = { { id = "i1", url = "https://x/i1" } } }, api.body(req))
      end,
    },
    {
      op = "UpdateCase",
      pep8 = function() return mc:update_case{ id = case_id, content = "updated", detections = { { id = "d2", url = "u" } }, incidents = {} } end,
      opid = function() return mc:UpdateCase{ id = case_id, content = "updated", detections = { { id = "d2", url = "u" } }, incidents = {} } end,
      uber = function() return uber:command("UpdateCase", { body = { id = case_id, body = "updated", detections = { { id = "d2", url = "u" } }, incidents = falcon.json.array() } }) end,
      check = function(req)
        assert.equal("PATCH", req.method)
        assert.equal("/message-center/entities/case/v1", req.path)
        assert.same({ id = case_id, body = "updated", detections = { { id = "d2", url = "u" } }, incidents = {} }, api.body(req))
      end,
    },
    {
      op = "CaseDownloadAttachment",
      pep8 = function() return mc:download_case_attachment{ id = attachment_id } end,
      opid = function() return mc:CaseDownloadAttachment{ id = attachment_id } end,
      uber = function() return uber:command("CaseDownloadAttachment", { id = attachment_id }) end,
      result = function(r) assert.equal("attachment bytes\0with a NUL", r) end,
      check = function(req)
        assert.equal("GET", req.method)
        assert.equal("/message-center/entities/case-attachment/v1", req.path)
        assert.same({ { "id", attachment_id } }, api.query(req))
      end,
    },
    {
      op = "CaseAddAttachment",
      pep8 = function() return mc:add_case_attachment{ case_id = case_id, user_uuid = user_uuid, file_data = "PNG\0DATA", file_name = "shot.png" } end,
      opid = function() return mc:CaseAddAttachment{ case_id = case_id, user_uuid = user_uuid, sample = "PNG\0DATA", file_name = "shot.png" } end,
      uber = function() return uber:command("CaseAddAttachment", { data = "PNG\0DATA", file_name = "shot.png", case_id = case_id, user_uuid = user_uuid, content_type = "multipart/form-data" }) end,
      check = function(req)
        assert.equal("POST", req.method)
        assert.equal("/message-center/entities/case-attachment/v1", req.path)
        assert.truthy(api.header(req, "content-type"):find("^multipart/form%-data; boundary="))
        local body = req.body
        assert.truthy(body:find('name="case_id"\r\n\r\n' .. case_id, 1, true))
        assert.truthy(body:find('name="user_uuid"\r\n\r\n' .. user_uuid, 1, true))
        assert.truthy(body:find('name="file"; filename="shot.png"', 1, true))
        assert.truthy(body:find("Content-Type: image/png", 1, true))
        assert.truthy(body:find("PNG\0DATA", 1, true))
      end,
    },
  }

  for _, row in ipairs(rows) do
    for _, style in ipairs { "pep8", "opid", "uber" } do
      it(row.op .. " in " .. style .. " style sends the FalconPy request", function()
        e:clear_log()
        local r = row[style]()
        if row.result then
          row.result(r)
        else
          assert.is_table(r)
          assert.equal(200, r.status_code, "status " .. tostring(r.status_code))
          assert.same({}, r.body.errors)
        end
        local calls = api.calls(e)
        assert.equal(1, #calls)
        row.check(calls[1])
      end)
    end
  end

  describe("FalconPy's mapping rules", function()
    it("a list for a query parameter repeats the key", function()
      mc:query_cases{ filter = { "case.status:'open'", "case.type:'mdr'" } }
      assert.same({ { "filter", "case.status:'open'" }, { "filter", "case.type:'mdr'" } }, api.query(api.last(e)))
    end)

    it("parameters= passes the whole query and explicit keywords win", function()
      mc:query_cases{ parameters = { limit = 3, sort = "case.id.desc" }, limit = 4 }
      assert.same({ { "limit", "4" }, { "sort", "case.id.desc" } }, api.sorted_query(api.last(e)))
    end)

    it("body= passes through and explicit keywords win", function()
      local r = mc:add_case_activity{ body = { case_id = case_id, body = "from body", type = "comment", user_uuid = user_uuid },
        content = "from keyword" }
      assert.equal(200, r.status_code)
      assert.same({ case_id = case_id, body = "from keyword", type = "comment", user_uuid = user_uuid }, api.body(api.last(e)))
    end)

    it("aggregate body= list passes through; keywords override its first request", function()
      mc:aggregate_cases{ body = { { field = "case.type", type = "terms", name = "a" }, { field = "case.status", type = "terms", name = "b" } },
        size = 3 }
      assert.same({ { field = "case.type", type = "terms", name = "a", size = 3 }, { field = "case.status", type = "terms", name = "b" } },
        api.body(api.last(e)))
    end)

    it("aggregate keywords keep empty lists as [] and cjson.null as null", function()
      mc:aggregate_cases{ field = "case.status", type = "terms", name = "x", sub_aggregates = {}, ranges = {} }
      local req = api.last(e)
      assert.truthy(req.body:find('"sub_aggregates":[]', 1, true))
      assert.truthy(req.body:find('"ranges":[]', 1, true))
      uber:command("AggregateCases", { body = { { field = "case.status", type = "terms", name = "x", sub_aggregates = { falcon.json.null } } } })
      assert.truthy(api.last(e).body:find('"sub_aggregates":[null]', 1, true))
    end)

    it("positional ids: a comma string, a list, and a list with keywords", function()
      mc:get_cases(table.concat(case_ids, ","))
      assert.same({ ids = case_ids }, api.body(api.last(e)))
      mc:get_cases(case_ids)
      assert.same({ ids = case_ids }, api.body(api.last(e)))
      mc:get_cases{ case_ids[1], case_ids[2] }
      assert.same({ ids = { case_ids[1], case_ids[2] } }, api.body(api.last(e)))
      mc:get_cases(" " .. case_ids[1] .. " , " .. case_ids[2] .. ",")
      assert.same({ ids = { case_ids[1], case_ids[2] } }, api.body(api.last(e)))
    end)

    it("a positional download id is sent as id (not ids)", function()
      local bytes = mc:download_case_attachment(attachment_id)
      assert.equal("attachment bytes\0with a NUL", bytes)
      assert.same({ { "id", attachment_id } }, api.query(api.last(e)))
    end)

    it("file_path streams from disk and takes the name from the path", function()
      local path, dir = api.temp_file("evidence.csv", "a,b\n1,2\n")
      local r = mc:add_case_attachment{ case_id = case_id, user_uuid = user_uuid, file_path = path }
      os.remove(path); os.remove(dir)
      assert.equal(200, r.status_code)
      local req = api.last(e)
      assert.truthy(req.body:find('name="file"; filename="evidence.csv"', 1, true))
      assert.truthy(req.body:find("Content-Type: text/csv", 1, true))
      assert.truthy(req.body:find("a,b\n1,2\n", 1, true))
    end)

    it("upfile is accepted as the file bytes", function()
      local r = mc:add_case_attachment{ case_id = case_id, user_uuid = user_uuid, upfile = "x", file_name = "note.txt" }
      assert.equal(200, r.status_code)
      assert.truthy(api.last(e).body:find('filename="note.txt"', 1, true))
    end)

    it("Uber files/data build the same multipart request", function()
      local r = uber:command("CaseAddAttachment", { files = { { "file", { "a.pdf", "%PDF-1.4", "application/pdf" } } },
        data = { case_id = case_id, user_uuid = user_uuid } })
      assert.equal(200, r.status_code)
      local body = api.last(e).body
      assert.truthy(body:find('name="case_id"\r\n\r\n' .. case_id, 1, true))
      assert.truthy(body:find('filename="a.pdf"', 1, true))
      assert.truthy(body:find("Content-Type: application/pdf", 1, true))
    end)

    it("a 15 MB file is sent (the limit is inclusive)", function()
      local r = mc:add_case_attachment{ case_id = case_id, user_uuid = user_uuid,
        file_data = string.rep("x", 15 * 1024 * 1024), file_name = "big.txt" }
      assert.equal(200, r.status_code)
    end)
  end)

  describe("bad input raises naming the argument and sends nothing", function()
    local bad = {
      { "integer 1..500 (or its digits as a string) expected, got string 'ten'", "'limit'", function() mc:query_cases{ limit = "ten" } end },
      { "integer 1..500 expected, got 600", "'limit'", function() mc:query_cases{ limit = "600" } end },
      { "integer 1..500 expected, got 501", "'limit'", function() mc:query_cases{ limit = 501 } end },
      { "integer 1..500 expected, got 0", "'limit'", function() mc:query_cases{ limit = 0 } end },
      { "non-integer number", "'limit'", function() mc:query_cases{ limit = 2.5 } end },
      { "string expected, got boolean", "'filter'", function() mc:query_cases{ filter = true } end },
      { "unknown keyword", "'bogus'", function() mc:query_cases{ bogus = 1 } end },
      { "unknown keyword", "'limt'", function() uber:command("QueryCasesIdsByFilter", { limt = 1 }) end },
      { "string expected, got nil", "'case_id'", function() mc:query_activities{ limit = 1 } end },
      { "CR, LF or NUL", "'filter'", function() mc:query_cases{ filter = "a\r\nX-Injected: 1" } end },
      { "CR, LF or NUL", "'filter'", function() mc:query_cases{ filter = "a\0b" } end },
      { "CR, LF or NUL", "'id'", function() mc:download_case_attachment{ id = "x\ny" } end },
      { "longer than", "'filter'", function() mc:query_cases{ filter = string.rep("a", 70000) } end },
      { "string expected, got number", "'ids[1]'", function() mc:get_cases{ ids = { 1, 2 } } end },
      { "string expected, got table", "'ids[1]'", function() mc:get_cases{ ids = { { "a" } } } end },
      { "expected, got nil", "'ids'", function() mc:get_cases() end },
      { "non-list keys", "'ids'", function() mc:get_cases{ ids = { a = 1 } } end },
      { "string expected, got number", "'content'", function() mc:add_case_activity{ case_id = "c", content = 5 } end },
      { "table expected, got number", "'detections'", function() mc:create_case_v2{ detections = 5 } end },
      { "table expected, got string", "'body'", function() mc:add_case_activity{ body = "text" } end },
      { "list of aggregate requests", "'body'", function() mc:aggregate_cases{ body = { field = "x" } } end },
      { "table expected, got string", "'parameters'", function() mc:query_cases{ parameters = "limit=1" } end },
      { "file name expected", "'file_name'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_data = "\0x" } end },
      { "file name expected", "'file_name'", function() uber:command("CaseAddAttachment", { data = "\0x", case_id = "c", user_uuid = "u" }) end },
      { "extension one of", "'file_name'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_data = "x", file_name = "a.exe" } end },
      { "extension one of", "'file_name'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_data = "x", file_name = "noext" } end },
      { "starting with", "'file_name'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_data = "x", file_name = ".hidden.txt" } end },
      { "only A-Z", "'file_name'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_data = "x", file_name = "a b.txt" } end },
      { "without quotes or slashes", "'file_name'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_data = "x", file_name = 'a".txt' } end },
      { "at most 255", "'file_name'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_data = "x", file_name = string.rep("a", 252) .. ".txt" } end },
      { "at most 15728640 bytes", "'file_name'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_data = string.rep("x", 15 * 1024 * 1024 + 1), file_name = "a.txt" } end },
      { "Is a directory", "'file_path'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_path = "/tmp" } end },
      { "No such file", "'file_path'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_path = "/nonexistent/x.png" } end },
      { "not both", "'file_path'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_data = "x", file_name = "a.txt", file_path = "/etc/hostname" } end },
      { "string of file bytes expected", "'file_data'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u", file_data = { 1 }, file_name = "a.txt" } end },
      { "file bytes (file_data) or file_path expected", "'file_data'", function() mc:add_case_attachment{ case_id = "c", user_uuid = "u" } end },
      { "string expected, got nil", "'case_id'", function() mc:add_case_attachment{ user_uuid = "u", file_data = "x", file_name = "a.txt" } end },
      { "uploads no file", "'file_name'", function() mc:query_cases{ file_name = "a.txt" } end },
      { "takes no JSON body", "'body'", function() mc:query_cases{ body = {} } end },
      { "boolean expected", "'expand_result'", function() mc:query_cases{ expand_result = "yes" } end },
      { "file path string expected", "'save_to'", function() mc:download_case_attachment{ id = "x", save_to = 5 } end },
      { "one id expected", "'id'", function() mc:download_case_attachment{ "a", "b" } end },
      { "given both positionally and as a keyword", "'ids'", function() mc:get_cases("a", { ids = "b" }) end },
      { "with a colon", "query_cases", function() mc.query_cases{ limit = 1 } end },
      { "unknown operation 'QueryCasesIdsByFiltr'; did you mean QueryCasesIdsByFilter", "command", function() uber:command("QueryCasesIdsByFiltr", {}) end },
      { "did you mean QueryCasesIdsByFilter", "query_cases_ids_by_filter", function() uber:command("query_cases_ids_by_filter", {}) end },
      { "Operation ID string expected, got nil", "'action'", function() uber:command{ limit = 1 } end },
      { "\"METHOD,/route\"", "'override'", function() uber:command{ override = "FETCH /x" } end },
      { "route starting with '/'", "'override'", function() uber:command{ override = "GET,x/y" } end },
      { "list of {field, {name, bytes, content_type}}", "'files'", function() uber:command("CaseAddAttachment", { files = "x", case_id = "c", user_uuid = "u" }) end },
      { "file bytes or path= expected", "'files[1]'", function() uber:command("CaseAddAttachment", { files = { { "file", { "a.png" } } }, case_id = "c", user_uuid = "u" }) end },
      { "header names", "'headers'", function() uber:command("QueryCasesIdsByFilter", { headers = { ["Bad Header"] = "x" } }) end },
      { "CR, LF or NUL", "'headers.X-Test'", function() uber:command("QueryCasesIdsByFilter", { headers = { ["X-Test"] = "a\r\nb" } }) end },
    }
    for i, case in ipairs(bad) do
      it("#" .. i .. ": " .. case[2] .. " (" .. case[1] .. ")", function()
        local err = api.rejects(e, case[1], case[3])
        assert.truthy(err:find(case[2], 1, true), err)
      end)
    end
  end)
end)
