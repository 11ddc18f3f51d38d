-- luacheck: no max line length
-- Hostile input (issue 5, item 5): bad values for every argument kind of the public API. Each one
-- must raise an error that names the argument and says what was expected, and the emulator's request
-- log must stay empty: not even a token request may leave the process.
local api = require "spec.helpers.api"
local falcon = require "falcon"
local Client = require "falcon.client"
local Result = require "falcon.base.result"

local MAX_UPLOAD = 15 * 1024 * 1024 -- Message Center's attachment limit (API.md)

describe("hostile input (against the emulator)", function()
  local e, id, secret, url
  local big_file, dir_path, missing_path -- upload fixtures

  setup(function()
    e = api.start()
    id, secret, url = e.client_id, e.client_secret, e.url
    local path, dir = api.temp_file("big.txt", "")
    -- 15 MB + 1 on disk without holding it in memory twice
    local f = assert(io.open(path, "wb"))
    local chunk = string.rep("x", 1024 * 1024)
    for _ = 1, 15 do f:write(chunk) end
    f:write("x")
    f:close()
    big_file, dir_path, missing_path = path, dir, dir .. "/no-such-file.txt"
  end)

  teardown(function()
    if big_file then os.remove(big_file); os.remove(dir_path) end
    if e then e:stop() end
  end)

  -- Fresh objects per case: a client that already holds a token would hide a token request.
  local function opts(extra)
    local o = { client_id = id, client_secret = secret, base_url = url, timeout = 10 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end
  local function mc() return falcon.MessageCenter(opts()) end
  local function uber() return falcon.APIHarnessV2(opts()) end
  local function step(iterator) return iterator() end -- first page/item: where a lazy iterator checks

  local huge = string.rep("A", 1024 * 1024)
  local CASE = "0123456789abcdef0123456789abcdef"
  local function attach(extra) -- CaseAddAttachment keywords
    local kw = { case_id = CASE, user_uuid = "u-1" }
    for k, v in pairs(extra) do kw[k] = v end
    return kw
  end

  -- { label, function that must raise, argument name the message must quote, text it must contain }
  -- A nil argument name means the case names what it rejects another way (an operation name).
  local cases = {
    -- constructor options: MessageCenter, APIHarnessV2, Client
    { "options not a table", function() falcon.MessageCenter("id:secret") end, "options", "table expected, got string" },
    { "client_id a number", function() falcon.MessageCenter(opts { client_id = 42 }) end, "client_id", "string expected, got number" },
    { "client_secret a boolean", function() falcon.APIHarnessV2(opts { client_secret = true }) end, "client_secret", "string expected, got boolean" },
    { "client_id empty", function() Client.new(opts { client_id = "" }) end, "client_id", "non-empty string expected" },
    { "client_secret empty", function() falcon.MessageCenter(opts { client_secret = "" }) end, "client_secret", "non-empty string expected" },
    { "client_secret without client_id", function() falcon.MessageCenter { client_secret = secret, base_url = url } end, "client_id", "go together" },
    { "client_id without client_secret", function() falcon.APIHarnessV2 { client_id = id, base_url = url } end, "client_secret", "go together" },
    { "no credentials at all (Result mode call)", function()
        falcon.MessageCenter({ base_url = url, pythonic = true }):query_cases { limit = 1 }
      end, nil, "give client_id and client_secret" },
    { "client_id with CR LF (header injection)", function() falcon.MessageCenter(opts { client_id = id .. "\r\nX-Evil: 1" }) end, "client_id", "control characters" },
    { "client_secret with NUL", function() falcon.MessageCenter(opts { client_secret = "abc\0def" }) end, "client_secret", "control characters" },
    { "member_cid with LF", function() falcon.MessageCenter(opts { member_cid = "c1d\nX-Evil: 1" }) end, "member_cid", "control characters" },
    { "access_token with CR LF", function() falcon.MessageCenter { access_token = "tok\r\nX-Evil: 1", base_url = url } end, "access_token", "control characters" },
    { "access_token huge", function() falcon.MessageCenter { access_token = huge, base_url = url } end, "access_token", "at most" },
    { "user_agent with CR LF", function() falcon.MessageCenter(opts { user_agent = "me\r\nX-Evil: 1" }) end, "user_agent", "control characters" },
    { "user_agent huge", function() falcon.APIHarnessV2(opts { user_agent = huge }) end, "user_agent", "at most" },
    { "client_id huge", function() Client.new(opts { client_id = huge }) end, "client_id", "at most" },
    { "unknown region", function() falcon.MessageCenter(opts { base_url = "mars-1" }) end, "base_url", "unknown region 'mars-1'" },
    { "base_url a number", function() falcon.MessageCenter(opts { base_url = 1 }) end, "base_url", "string expected, got number" },
    { "base_url with CR LF", function() falcon.MessageCenter(opts { base_url = "http://127.0.0.1\r\nHost: evil" }) end, "base_url", "control characters" },
    { "regions: unknown region", function() falcon.MessageCenter(opts { regions = { mars1 = url } }) end, "regions", "unknown region 'mars1'" },
    { "regions: not a URL", function() falcon.MessageCenter(opts { regions = { us1 = "ftp://x" } }) end, "regions", "URL expected" },
    { "unknown option", function() falcon.MessageCenter(opts { clientid = id }) end, "clientid", "did you mean 'client_id'" },
    { "timeout negative", function() falcon.MessageCenter(opts { timeout = -1 }) end, "timeout", "expected, got -1" },
    { "timeout a string", function() falcon.APIHarnessV2(opts { timeout = "10" }) end, "timeout", "number or table expected, got string" },
    { "timeout table of one", function() Client.new(opts { timeout = { 5 } }) end, "timeout", "{connect_seconds, read_seconds}" },
    { "ssl_verify a number", function() falcon.MessageCenter(opts { ssl_verify = 1 }) end, "ssl_verify", "boolean or string expected, got number" },
    { "debug a string", function() falcon.MessageCenter(opts { debug = "yes" }) end, "debug", "boolean or function expected, got string" },
    { "proxy a number", function() falcon.MessageCenter(opts { proxy = 8080 }) end, "proxy", "string or table expected, got number" },
    { "renew_window a string", function() falcon.MessageCenter(opts { renew_window = "2m" }) end, "renew_window", "number expected, got string" },
    { "pythonic a string", function() falcon.MessageCenter(opts { pythonic = "yes" }) end, "pythonic", "boolean expected, got string" },
    { "auth_object a string", function() falcon.MessageCenter { auth_object = "token" } end, "auth_object", "expected, got string" },
    { "auth_object without a client", function() falcon.APIHarnessV2 { auth_object = {} } end, "auth_object", "client object expected" },
    { "auth_object plus client options", function()
        falcon.MessageCenter { auth_object = mc(), base_url = "us-2" }
      end, "base_url", "not accepted with auth_object" },

    -- service methods: query keywords
    { "keywords not a table", function() mc():query_cases(true) end, "arguments", "table of keyword arguments expected, got boolean" },
    { "positional value where none is taken", function() mc():query_cases("limit=5") end, "arguments", "takes no positional ids" },
    { "limit a string of no digits", function() mc():query_cases { limit = "ten" } end, "limit", "integer 1..500 (or its digits as a string) expected, got string 'ten'" },
    { "limit below range", function() mc():query_cases { limit = 0 } end, "limit", "integer 1..500 expected, got 0" },
    { "limit above range", function() mc():query_cases { limit = 501 } end, "limit", "integer 1..500 expected, got 501" },
    { "limit not integral", function() mc():query_cases { limit = 1.5 } end, "limit", "got non-integer number" },
    { "limit NaN", function() mc():query_cases { limit = 0 / 0 } end, "limit", "expected" },
    { "limit infinite", function() mc():query_cases { limit = math.huge } end, "limit", "integer 1..500 expected" },
    { "offset a table", function() mc():query_cases { offset = {} } end, "offset", "integer expected, got an empty table" },
    { "filter a boolean", function() mc():query_cases { filter = true } end, "filter", "string expected, got boolean" },
    { "filter with CR LF", function() mc():query_cases { filter = "status:'open'\r\nX-Evil: 1" } end, "filter", "CR, LF or NUL" },
    { "filter with NUL", function() mc():query_cases { filter = "a\0b" } end, "filter", "CR, LF or NUL" },
    { "filter huge", function() mc():query_cases { filter = huge } end, "filter", "value longer than" },
    { "sort a boolean", function() mc():query_cases { sort = true } end, "sort", "string expected, got boolean" },
    { "unknown keyword", function() mc():query_cases { limt = 5 } end, "limt", "unknown keyword; expected one of" },
    { "parameters a string", function() mc():query_cases { parameters = "limit=5" } end, "parameters", "table expected, got string" },
    { "parameters with a number key", function() mc():query_cases { parameters = { "x" } } end, "parameters", "string keys expected" },
    { "parameters: limit of the wrong type", function() mc():query_cases { parameters = { limit = "5\r\n" } } end, "limit", "integer 1..500 (or its digits as a string) expected, got string" },
    { "parameters: value with LF", function() mc():query_cases { parameters = { filter = "a\nb" } } end, "filter", "CR, LF or NUL" },
    -- ids and body keywords
    { "ids a number", function() mc():get_cases(12345) end, "ids", "string expected, got number" },
    { "ids list holding a number", function() mc():get_cases { ids = { CASE, 7 } } end, "ids[2]", "string expected, got number" },
    { "ids list holding a table", function() mc():get_cases { ids = { {} } } end, "ids[1]", "string expected, got table" },
    { "ids a map", function() mc():get_cases { ids = { a = CASE } } end, "ids", "non-list keys" },
    { "ids missing", function() mc():get_cases() end, "ids", "string or list of strings expected, got nil" },
    { "query ids with CR LF", function() falcon.Intel(opts()):GetIntelActorEntities { ids = { "a", "b\r\nX-Evil: 1" } } end, "ids", "CR, LF or NUL" },
    { "query ids list holding a boolean", function() falcon.Intel(opts()):GetIntelActorEntities { ids = { "a", true } } end, "ids[2]", "string expected, got boolean" },
    { "body not a table", function() mc():get_cases { body = "{}" } end, "body", "table expected, got string" },
    { "aggregate body not a list", function() mc():aggregate_cases { body = { field = "case.status" } } end, "body", "list of aggregate requests expected" },
    { "body keyword of the wrong type", function() mc():add_case_activity { case_id = CASE, user_uuid = "u", type = "public", content = 5 } end, "content", "string expected, got number" },
    { "body on an operation that takes none", function() mc():query_cases { body = {} } end, "body", "takes no JSON body" },
    { "id a boolean (download)", function() mc():download_case_attachment { id = true } end, "id", "string expected, got boolean" },
    { "id with CR LF (download)", function() mc():download_case_attachment("a\r\nb") end, "id", "CR, LF or NUL" },
    { "save_to a number", function() mc():download_case_attachment { id = CASE, save_to = 5 } end, "save_to", "file path string expected" },
    { "save_to with NUL", function() mc():download_case_attachment { id = CASE, save_to = "/tmp/a\0b" } end, "save_to", "CR, LF or NUL" },
    { "expand_result a string", function() mc():query_cases { expand_result = "yes" } end, "expand_result", "boolean expected, got string" },
    -- path and header parameters
    { "path parameter empty", function() falcon.CustomStorage(opts()):GetObject { collection_name = "", object_key = "k" } end, "collection_name", "at least 1 characters" },
    { "path parameter with CR LF", function() falcon.CustomStorage(opts()):GetObject { collection_name = "c\r\nX: y", object_key = "k" } end, "collection_name", "CR, LF or NUL" },
    { "path parameter a number", function() falcon.CustomStorage(opts()):GetObject { collection_name = "c", object_key = 5 } end, "object_key", "string expected, got number" },
    { "path parameter missing", function() falcon.CustomStorage(opts()):GetObject { collection_name = "c" } end, "object_key", "expected, got nil" },
    { "header parameter with CR LF", function()
        falcon.Intel(opts()):GetLatestIntelRuleFile { type = "snort", ["If-None-Match"] = "x\r\nX-Evil: 1" }
      end, "If-None-Match", "CR, LF or NUL" },
    { "header parameter a table", function() falcon.Intel(opts()):GetLatestIntelRuleFile { type = "snort", Accept = {} } end, "Accept", "string expected, got table" },
    -- uploads
    { "file_path missing", function() mc():add_case_attachment(attach { file_path = missing_path }) end, "file_path", "readable file expected" },
    { "file_path a directory", function() mc():add_case_attachment(attach { file_path = dir_path, file_name = "a.txt" }) end, "file_path", "regular file expected" },
    { "file_path 15 MB + 1", function() mc():add_case_attachment(attach { file_path = big_file }) end, "file_name", "at most " .. MAX_UPLOAD .. " bytes" },
    { "file_data 15 MB + 1", function()
        mc():add_case_attachment(attach { file_data = string.rep("x", MAX_UPLOAD + 1), file_name = "a.txt" })
      end, "file_name", "at most " .. MAX_UPLOAD .. " bytes" },
    { "file_data a number", function() mc():add_case_attachment(attach { file_data = 42, file_name = "a.txt" }) end, "file_data", "string of file bytes expected, got number" },
    { "file_data of unknown kind without file_name", function() mc():add_case_attachment(attach { file_data = "\0x" }) end, "file_name", "file name expected" },
    { "file_data and file_path", function() mc():add_case_attachment(attach { file_data = "x", file_path = big_file }) end, "file_path", "not both" },
    { "file_path a table", function() mc():add_case_attachment(attach { file_path = {} }) end, "file_path", "string expected, got table" },
    { "bad extension", function() mc():add_case_attachment(attach { file_data = "MZ", file_name = "evil.exe" }) end, "file_name", "got 'exe'" },
    { "no extension", function() mc():add_case_attachment(attach { file_data = "x", file_name = "README" }) end, "file_name", "got '(none)'" },
    { "file name with a quote", function() mc():add_case_attachment(attach { file_data = "x", file_name = 'a".txt' }) end, "file_name", "without quotes or slashes expected, got" },
    { "file name with a path", function() mc():add_case_attachment(attach { file_data = "x", file_name = "../../etc/passwd.txt" }) end, "file_name", "without quotes or slashes expected, got" },
    { "file name with CR LF", function() mc():add_case_attachment(attach { file_data = "x", file_name = "a\r\nX-Evil: 1.txt" }) end, "file_name", "CR, LF or NUL" },
    { "file name empty", function() mc():add_case_attachment(attach { file_data = "x", file_name = "" }) end, "file_name", "non-empty file name expected" },
    { "file name starting with a dot", function() mc():add_case_attachment(attach { file_data = "x", file_name = ".hidden.txt" }) end, "file_name", "file name starting with" },
    { "file name too long", function() mc():add_case_attachment(attach { file_data = "x", file_name = string.rep("a", 256) .. ".txt" }) end, "file_name", "at most 255 characters" },
    { "form field a number", function() mc():add_case_attachment { case_id = 5, user_uuid = "u", file_data = "x", file_name = "a.txt" } end, "case_id", "string expected, got number" },
    { "form field missing", function() mc():add_case_attachment { user_uuid = "u", file_data = "x", file_name = "a.txt" } end, "case_id", "expected, got nil" },
    { "form field with CR LF", function() mc():add_case_attachment(attach { user_uuid = "u\r\nX: y", file_data = "x", file_name = "a.txt" }) end, "user_uuid", "CR, LF or NUL" },
    { "upload keyword where nothing is uploaded", function() mc():query_cases { file_name = "a.txt" } end, "file_name", "uploads no file" },

    -- the Uber class
    { "unknown operation", function() uber():command("QueryCasesIdsByFiltr") end, nil, "unknown operation 'QueryCasesIdsByFiltr'; did you mean QueryCasesIdsByFilter" },
    { "action a number", function() uber():command(42) end, "action", "Operation ID string expected, got number" },
    { "action missing", function() uber():command { limit = 1 } end, "action", "Operation ID string expected, got nil" },
    { "override without a comma", function() uber():command { override = "GET /x" } end, "override", "\"METHOD,/route\"" },
    { "override with an unknown method", function() uber():command { override = "TRACE,/x" } end, "override", "METHOD one of" },
    { "override route with CR LF", function() uber():command { override = "GET,/x\r\nHost: evil" } end, "override", "expected" },
    { "override route with a query", function() uber():command { override = "GET,/message-center/queries/cases/v1?limit=1" } end, "override", "route starting with '/'" },
    { "override: parameter with LF", function() uber():command { override = "GET,/x", parameters = { filter = "a\nb" } } end, "filter", "CR, LF or NUL" },
    { "Uber limit out of range", function() uber():command("QueryCasesIdsByFilter", { limit = 1000 }) end, "limit", "integer 1..500 expected, got 1000" },
    { "Uber unknown keyword", function() uber():command { action = "QueryCasesIdsByFilter", limitt = 1 } end, "limitt", "unknown keyword" },
    { "headers not a table", function() uber():command("QueryCasesIdsByFilter", { headers = "X-A: 1" }) end, "headers", "table expected, got string" },
    { "header value with CR LF", function() uber():command("QueryCasesIdsByFilter", { headers = { ["X-A"] = "1\r\nX-Evil: 2" } }) end, "headers.X-A", "CR, LF or NUL" },
    { "header value with NUL", function() uber():command("QueryCasesIdsByFilter", { headers = { ["X-A"] = "1\0" } }) end, "headers.X-A", "CR, LF or NUL" },
    { "header name with a space", function() uber():command("QueryCasesIdsByFilter", { headers = { ["X A"] = "1" } }) end, "headers", "header names of letters, digits and '-' expected" },
    { "header name with CR LF", function() uber():command("QueryCasesIdsByFilter", { headers = { ["X-A\r\nX-Evil"] = "1" } }) end, "headers", "header names of letters" },
    { "content_type with CR LF", function() uber():command("QueryCasesIdsByFilter", { content_type = "text/plain\r\nX-Evil: 1" }) end, "content_type", "CR, LF or NUL" },
    { "files not a list", function() uber():command("CaseAddAttachment", { files = "a.txt", data = { case_id = CASE, user_uuid = "u" } }) end, "files", "expected, got string" },
    { "files: bad extension", function()
        uber():command("CaseAddAttachment", { files = { { "file", { "a.exe", "MZ", "application/octet-stream" } } }, data = { case_id = CASE, user_uuid = "u" } })
      end, "files[1]", "got 'exe'" },
    { "files: field name with a quote", function()
        uber():command("CaseAddAttachment", { files = { { 'fi"le', { "a.txt", "x", "text/plain" } } }, data = { case_id = CASE, user_uuid = "u" } })
      end, "files[1]", "field name" },
    { "files: content type with CR LF", function()
        uber():command("CaseAddAttachment", { files = { { "file", { "a.txt", "x", "text/plain\r\nX: y" } } }, data = { case_id = CASE, user_uuid = "u" } })
      end, "files[1]", "CR, LF or NUL" },
    { "files: file name with a tab", function()
        uber():command { override = "POST,/x", file_data = "x", file_name = "a\tb.txt" }
      end, "file_name", "without control characters" },
    { "files: content type with a quote", function()
        uber():command("CaseAddAttachment", { files = { { "file", { "a.txt", "x", 'text/plain; charset="x"' } } }, data = { case_id = CASE, user_uuid = "u" } })
      end, "files[1]", "content type without control characters, quotes or backslashes" },
    { "data: form field name with a quote", function()
        uber():command { override = "POST,/x", data = { ['a"b'] = "1" } }
      end, "data", "field name" },
    { "data: form value a table of tables", function()
        uber():command("CaseAddAttachment", { data = { case_id = { {} }, user_uuid = "u" }, file_data = "x", file_name = "a.txt" })
      end, "case_id", "expected, got table" },

    -- pagination iterators
    { "pages: unknown operation", function() mc():pages("query_casez") end, nil, "unknown operation 'query_casez'" },
    { "each: args not a table", function() step(mc():each("query_cases", "limit=5")) end, "args", "table of keyword arguments expected, got string" },
    { "each: unknown style", function() step(mc():each("query_cases", {}, { style = "bogus" })) end, "style", "one of offset, token, after, marker, none expected" },
    { "pages: max_pages a string", function() step(mc():pages("query_cases", {}, { max_pages = "3" })) end, "max_pages", "number expected, got string" },
    { "pages: unknown option", function() step(mc():pages("query_cases", {}, { page_size = 3 })) end, "page_size", "unknown option" },
    { "each: limit out of range", function() step(mc():each("query_cases", { limit = 0 })) end, "limit", "integer 1..500 expected, got 0" },
    { "Uber pages: action a number", function() uber():pages(42) end, "action", "Operation ID string expected, got number" },
    { "graphql_pages: no client", function() falcon.graphql_pages(nil, "query { x }") end, "client", "service or Uber object expected, got nil" },
    { "graphql_pages: empty query", function() falcon.graphql_pages(uber(), "") end, "query", "GraphQL query string expected" },
    { "graphql_pages: variables a string", function() falcon.graphql_pages(uber(), "q", "after=1") end, "variables", "table expected, got string" },

    -- misc public entry points
    { "method called with a dot", function() local m = mc(); m.query_cases { limit = 1 } end, nil, "call it as a method, with a colon" },
    { "Result:prune with a number", function() Result.new({ status_code = 200, body = { resources = {} } }):prune(5) end, "substring", "string expected, got number" },
  }

  it("has at least 60 cases", function()
    assert.is_true(#cases >= 60, "only " .. #cases .. " cases")
  end)

  for _, case in ipairs(cases) do
    local label, fn, argname, expected = case[1], case[2], case[3], case[4]
    it(label, function()
      e:clear_log()
      local ok, err = pcall(fn)
      assert(not ok, "no error raised")
      local message = tostring(err)
      -- A position prefix may blame the caller's line, never a line inside the SDK.
      local where, rest = message:match("^([^%s:]+:%d+): (.*)$")
      if where then
        assert(not where:find("lua/falcon/", 1, true), "error blames the SDK's own code: " .. message)
        message = rest
      end
      assert(message:find("^falcon"), "message does not start with 'falcon': " .. message)
      if argname then
        assert(message:find("'" .. argname .. "'", 1, true), "message does not name '" .. argname .. "': " .. message)
      end
      assert(message:find(expected, 1, true), "message lacks '" .. expected .. "': " .. message)
      assert(#message < 600, "message too long (" .. #message .. " bytes)")
      local log = e:requests()
      assert(#log == 0, "a request was sent: " .. tostring(log[1] and (log[1].method .. " " .. log[1].uri)))
    end)
  end
end)
