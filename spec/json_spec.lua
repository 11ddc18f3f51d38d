-- falcon.json: cjson with empty arrays that encode as [] and cjson.null that survives. (The spec decodes
-- with lua-cjson itself where it checks the encoder's text: a second reader, not the one under test.)
local json = require "falcon.json"
local cjson = require "cjson"

describe("falcon.json", function()
  it("encodes a marked empty table as []", function()
    assert.equal("[]", json.encode(json.array()))
    assert.equal('{"ids":[]}', json.encode({ ids = json.array() }))
  end)

  it("leaves unmarked empty tables as objects", function()
    assert.equal("{}", json.encode({}))
  end)

  it("marks arrays from a schema", function()
    assert.equal('{"ids":[]}', json.encode({ ids = {} }, { fields = { ids = "array" } }))
    assert.equal('[{"ranges":[]}]', json.encode({ { ranges = {} } }, { list = { fields = { ranges = "array" } } }))
    assert.equal("[]", json.encode({}, { list = {} }))
  end)

  it("keeps nested empty arrays inside lists", function()
    local text = json.encode({ { sub_aggregates = json.array(), name = "a" } })
    assert.same({ { sub_aggregates = {}, name = "a" } }, cjson.decode(text))
    assert.truthy(text:find('"sub_aggregates":[]', 1, true))
  end)

  it("keeps null", function()
    assert.equal('{"a":null}', json.encode({ a = json.null }))
    assert.equal("[null]", json.encode({ json.null }))
    assert.equal(cjson.null, json.null)
    assert.equal(json.null, json.decode('{"a":null}').a)
  end)

  it("does not touch strings that look like the marker", function()
    local s = '"[]" and {} stay text'
    assert.equal(s, json.decode(json.encode({ v = s, e = json.array() })).v)
  end)

  it("does not modify the caller's table", function()
    local t = { ids = {} }
    json.encode(t, { fields = { ids = "array" } })
    assert.is_nil(getmetatable(t.ids))
    assert.same({ ids = {} }, t)
  end)

  it("rejects cycles with an error", function()
    local t = {}
    t.self = t
    assert.has_error(function() json.encode(t, { fields = {} }) end)
  end)

  it("json.array rejects non-tables", function()
    assert.has_error(function() json.array("x") end, "falcon: json.array: bad argument 't' (table expected, got string)")
  end)

  it("is the library's only way to JSON: nothing else in lua/ requires lua-cjson", function()
    local p = assert(io.popen("grep -rlE \"require[ (]*[\\\"']cjson\" lua"))
    local found = {}
    for path in p:lines() do found[#found + 1] = path end
    p:close()
    assert.same({ "lua/falcon/json.lua" }, found)
  end)
end)
