-- JSON answers decoded as they arrive (csrc/json_decode.c on yajl, csrc/json_body.c in the body sink):
-- the decoder itself, the C body path fed at every byte boundary, newline-delimited input, and every
-- answer of spec/helpers/json_cases.lua through every driver against the emulator.
local core = require "falcon.core"
local json = require "falcon.json"
local cases = require "spec.helpers.json_cases"
local emulator = require "spec.helpers.emulator"
local openresty = require "spec.helpers.openresty"

local VM = math.type and "lua" or "jit"
local show = cases.show

describe("falcon.json.decode", function()
  it("keeps integers integers (on Lua 5.3+) and floats floats", function()
    local v = json.decode('{"total":66,"code":404,"offset":100,"ms":1700000000000,"f":66.0,"e":1e2}')
    if VM == "lua" then
      assert.equal("integer", math.type(v.total))
      assert.equal("66", tostring(v.total))
      assert.equal("404", tostring(v.code))
      assert.equal("1700000000000", tostring(v.ms))
      assert.equal("float", math.type(v.f))
      assert.equal("float", math.type(v.e))
    end
    assert.equal(66, v.total)
    assert.equal(100.0, v.e)
  end)

  it("gives JSON null as falcon.json.null, which is cjson.null", function()
    assert.equal(require("cjson").null, json.decode("null"))
    assert.equal(json.null, json.decode('{"a":null}').a)
    assert.equal('{"a":null}', json.encode(json.decode('{"a":null}')))
  end)

  it("marks every decoded array, so [] re-encodes as []", function()
    local v = json.decode('{"errors":[],"resources":[1]}')
    assert.is_true(json.is_array(v.errors))
    assert.is_true(json.is_array(v.resources))
    assert.equal("[]", json.encode(v.errors))
    assert.equal("[[],{},[[]]]", json.encode(json.decode("[[],{},[[]]]")))
  end)

  it("decodes unicode escapes, surrogate pairs and NUL", function()
    assert.equal("\195\169", json.decode('"\\u00e9"'))
    assert.equal("\240\159\152\128", json.decode('"\\ud83d\\ude00"'))
    assert.equal("a\0b", json.decode('"a\\u0000b"'))
  end)

  it("rejects invalid UTF-8, truncated and trailing text with the position", function()
    assert.has_error(function() json.decode('["\255"]') end,
      "invalid JSON at byte 3: lexical error: invalid bytes in UTF8 string.")
    local ok, err = pcall(json.decode, '{"a":[1,2')
    assert.is_false(ok)
    assert.matches("premature EOF", err)
    ok, err = pcall(json.decode, "[1] [2]")
    assert.is_false(ok)
    assert.matches("trailing garbage", err)
    assert.is_false(pcall(json.decode, ""))
  end)

  it("bounds depth, size and string length, naming the limit", function()
    assert.equal(1000, #show(json.decode(("["):rep(1000) .. ("]"):rep(1000))) / 2)
    assert.has_error(function() json.decode(("["):rep(1001) .. ("]"):rep(1001)) end,
      "JSON nested deeper than max_depth (1000 levels)")
    assert.equal("[[[]]]", show(json.decode("[[[]]]", { max_depth = 3 })))
    assert.has_error(function() json.decode("[[[[]]]]", { max_depth = 3 }) end, "JSON nested deeper than max_depth (3 levels)")
    assert.has_error(function() json.decode('"abcd"', { max_string = 3 }) end, "JSON string longer than max_string (3 bytes)")
    assert.has_error(function() json.decode('{"abcd":1}', { max_string = 3 }) end, "JSON string longer than max_string (3 bytes)")
    assert.has_error(function() json.decode("[1,2]", { max_size = 4 }) end, "JSON text longer than max_size (4 bytes)")
    assert.has_error(function() json.decode("[]", { max_depht = 3 }) end,
      "falcon: json.decode: unknown option 'max_depht' (max_depth, max_size or max_string)")
    assert.has_error(function() json.decode("[]", { max_size = 0 }) end,
      "falcon: json.decode: bad option 'max_size' (positive integer expected, got 0)")
  end)

  it("survives 100,000 levels of nesting as an error, not a crash", function()
    local ok, err = pcall(json.decode, ("["):rep(100000), { max_depth = 1000000 })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("deep", 1, true) or tostring(err):find("EOF", 1, true), err)
  end)
end)

describe("falcon.json.decoder (newline-delimited JSON)", function()
  it("gives complete values only, whatever the pieces", function()
    local d = json.decoder()
    assert.is_true(d:feed('{"event":1,"meta":{"offset":'))
    assert.is_nil(d:next())
    assert.is_true(d:feed('7}}\n{"event":2}\n[]\n{"eve'))
    assert.equal("{event=" .. (VM == "lua" and "i1" or "n1") .. ",meta={offset=" .. (VM == "lua" and "i7" or "n7") .. "}}",
      show(d:next()))
    assert.equal("{event=" .. (VM == "lua" and "i2" or "n2") .. "}", show(d:next()))
    assert.equal("[]", show(d:next()))
    assert.is_nil(d:next())
    assert.is_true(d:feed('nt":3}\r\n\n  \nnull\n42'))
    assert.equal(3, d:next().event)
    assert.equal(json.null, d:next())
    assert.is_nil(d:next()) -- 42 may still go on (420...) until the line or the input ends
    assert.is_true(d:finish())
    assert.equal(42, d:next())
    assert.is_nil(d:next())
  end)

  it("reads a stream split at every byte boundary as it reads it whole", function()
    local text = '{"a":[1,2.5,"x\\u00e9"],"b":null}\n[]\n{}\n"s"\n-12\ntrue\n{"deep":[[[{"k":[]}]]]}\n'
    local function drain(d, into)
      while true do
        local v = d:next()
        if v == nil then return into end
        into[#into + 1] = show(v)
      end
    end
    local whole = json.decoder()
    assert.is_true(whole:feed(text))
    assert.is_true(whole:finish())
    local expected = table.concat(drain(whole, {}), " ")
    assert.equal(7, select(2, expected:gsub(" ", "")) + 1)
    for cut = 0, #text do
      local d, got = json.decoder(), {}
      assert.is_true(d:feed(text:sub(1, cut)))
      drain(d, got)
      assert.is_true(d:feed(text:sub(cut + 1)))
      drain(d, got)
      assert.is_true(d:finish())
      assert.equal(expected, table.concat(drain(d, got), " "), "split at " .. cut)
    end
    local d, got = json.decoder(), {}
    for i = 1, #text do assert.is_true(d:feed(text:sub(i, i))); drain(d, got) end
    assert.equal(expected, table.concat(got, " "))
  end)

  it("fails for good on a bad line or a value left open, naming the limit", function()
    local d = json.decoder()
    assert.is_true(d:feed('{"a":1}\n'))
    local ok, err = d:feed("{oops}\n")
    assert.is_nil(ok)
    assert.matches("invalid JSON at byte 10", err)
    assert.equal(1, d:next().a)
    assert.same({ nil, err }, { d:feed("{}\n") })
    local open = json.decoder()
    assert.is_true(open:feed('{"a":'))
    ok, err = open:finish()
    assert.is_nil(ok)
    assert.matches("premature EOF", err)
    local small = json.decoder { max_size = 10 }
    assert.is_true(small:feed('[1,2,3]\n[4,5,6]\n'))   -- each value counts on its own
    ok, err = small:feed('[1,2,3,4,5]\n')
    assert.is_nil(ok)
    assert.equal("JSON text longer than max_size (10 bytes)", err)
    local shallow = json.decoder { max_depth = 1 }
    ok, err = shallow:feed("[[1]]\n")
    assert.is_nil(ok)
    assert.equal("JSON nested deeper than max_depth (1 levels)", err)
  end)
end)

-- The C body path itself (response.c -> body sink -> json_body.c), fed the way the cosocket driver feeds
-- it, so that the chunk boundaries are exactly the ones chosen here.
describe("a JSON answer decoded in the body sink", function()
  local client
  setup(function() client = core.client { base_url = "http://127.0.0.1:9", access_token = "t" } end)
  teardown(function() client:close() end)

  local function answer(body, headers)
    return "HTTP/1.1 200 OK\r\nContent-Type: " .. (headers or "application/json; charset=utf-8")
      .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
  end
  local function exchange(pieces, wire)
    local ex = assert(client:exchange("api", wire or { method = "GET", route = "/x", json = {} }))
    for _, piece in ipairs(pieces) do
      local state = ex:feed(piece)
      if state ~= "more" then break end
    end
    return ex:result()
  end

  it("gives the same value whatever the chunks, split at every byte boundary", function()
    local body = '{"meta":{"pagination":{"offset":100,"total":66}},"errors":[],"resources":["a\\u00e9",1.5,null,{}]}'
    local text = answer(body)
    local status, _, whole = exchange { text }
    assert.equal(200, status)
    local expected = show(whole)
    assert.equal(show(json.decode(body)), expected)
    local head = #text - #body
    for cut = head, #text - 1 do
      local _, _, value = exchange { text:sub(1, cut), text:sub(cut + 1) }
      assert.equal(expected, show(value), "split at body byte " .. (cut - head))
    end
    local pieces = {}
    for i = 1, #text do pieces[i] = text:sub(i, i) end
    local _, _, value = exchange(pieces)
    assert.equal(expected, show(value))
  end)

  it("decodes chunked answers too", function()
    local text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      .. "5\r\n[1,2,\r\n3\r\n3]\n\r\n0\r\n\r\n"
    local _, _, value = exchange { text }
    assert.equal(VM == "lua" and "[i1,i2,i3]" or "[n1,n2,n3]", show(value))
  end)

  it("leaves other bodies bytes: not JSON, no decoder asked for, downloads, empty", function()
    assert.equal('{"a":1}', select(3, exchange({ answer('{"a":1}', "text/plain") })))
    assert.equal('{"a":1}', select(3, exchange({ answer('{"a":1}') }, { method = "GET", route = "/x" })))
    assert.equal('{"a":1}', select(3, exchange({ answer('{"a":1}') }, { method = "GET", route = "/x", json = {}, binary = true })))
    assert.equal("", select(3, exchange { answer("") }))
  end)

  -- Issue 23: a 2xx that says JSON and is not is never handed back as bytes, at any byte boundary.
  it("fails a 2xx that says JSON and is not; another status keeps its first 64 KiB of bytes", function()
    local function status_answer(status, body)
      return answer(body):gsub("^HTTP/1.1 200 OK", "HTTP/1.1 " .. status, 1)
    end
    for _, body in ipairs { "{", '["\255"]', "[1] [2]", " ", ("["):rep(10) } do
      local text = answer(body)
      for cut = #text - #body, #text do
        local status, err = exchange { text:sub(1, cut), text:sub(cut + 1) }
        assert.is_nil(status, body)
        assert.equal("json", err.kind)
        assert.matches("^json error: the 200 answer's Content%-Type says JSON, but its body is not JSON: invalid JSON", err.message)
        assert.is_true(err.reached_server)
      end
      local status, _, bytes = exchange { status_answer("404 Not Found", body) }
      assert.equal(404, status)
      assert.equal(body, bytes)
    end
    local long = "[" .. ("x"):rep(70 * 1024)
    local status, _, bytes = exchange { status_answer("503 Service Unavailable", long) }
    assert.equal(503, status)
    assert.equal(long:sub(1, 65536), bytes)
    assert.equal("json", select(2, exchange { answer(long) }).kind)
  end)

  it("reports a broken limit as a json error, before the rest arrives", function()
    local body = ("["):rep(50) .. ("]"):rep(50)
    local status, err = exchange({ answer(body):sub(1, -40) }, { method = "GET", route = "/x", json = { max_depth = 20 } })
    assert.is_nil(status)
    assert.equal("json", err.kind)
    assert.equal("json error: JSON nested deeper than json_max_depth (20 levels) (GET /x)", err.message)
    assert.is_true(err.reached_server)
  end)

  it("checks the client's limits when the client is made", function()
    local Client = require "falcon.client"
    assert.has_error(function() Client.new { access_token = "t", json_max_depth = 0 } end,
      "falcon: bad option 'json_max_depth' (positive integer expected, got 0)")
    assert.has_error(function() Client.new { access_token = "t", json_max_string = 1.5 } end,
      "falcon: bad option 'json_max_string' (positive integer expected, got 1.5)")
    assert.has_error(function() Client.new { access_token = "t", json_max_size = "1MB" } end,
      "falcon: bad option 'json_max_size' (number expected, got string)")
  end)

  it("names a bad limit before anything is sent", function()
    assert.has_error(function() client:exchange("api", { method = "GET", route = "/x", json = { max_depth = -1 } }) end,
      "falcon: request: bad option 'json_max_depth' (positive integer expected, got -1)")
  end)
end)

describe("JSON answers through every driver", function()
  local emu, server
  local Client = require "falcon.client"
  setup(function()
    emu = emulator.start()
    server = openresty.start { emu = emu, workers = 1 }
  end)
  teardown(function()
    if server then server:stop() end
    if emu then emu:stop() end
  end)

  local function base() return { client_id = emu.client_id, client_secret = emu.client_secret, base_url = emu.url } end
  local function arm(case)
    emu:control("reset", {})
    emu:control("faults", { faults = cases.faults(case) })
  end

  for _, case in ipairs(cases.list) do
    it(case.name, function()
      arm(case)
      local blocking = cases.run(Client, case, base())
      assert(cases.check(case, blocking, VM))
      arm(case)
      local results, errors = require("falcon").parallel { function() return cases.run(Client, case, base()) end }
      assert.is_nil(errors)
      assert(cases.check(case, results[1], VM))
      arm(case)
      local cosocket = server:get("/json_case?name=" .. emulator.urlencode(case.name))
      assert(cases.check(case, cosocket, "jit"))
    end)
  end

  it("shows the API's numbers as FalconPy's users see them", function()
    local falcon = require "falcon"
    local mc = falcon.MessageCenter(base())
    local r = mc:query_cases { limit = 2 }
    assert.equal(200, r.status_code)
    local pagination = r.body.meta.pagination
    assert.equal("2", tostring(pagination.limit))
    assert.equal(tostring(math.floor(pagination.total)), tostring(pagination.total))
    assert.equal("[]", json.encode(r.body.errors))
    local opts = base()
    opts.pythonic = true
    local ok, err = pcall(function() return falcon.MessageCenter(opts):get_cases("no-such-id") end)
    assert.is_false(ok)
    assert.is_true(falcon.APIError.is(err))
    assert.equal(tostring(math.floor(err.code)), tostring(err.code))
  end)
end)
