-- docs/reference/ is what tools/gen_docs.lua makes of the operation tables (so it is current), covers
-- every operation, and its Lua examples compile.
local emulator = require "spec.helpers.emulator"
local generated = require "spec.helpers.generated"
local endpoints = require "falcon.endpoints"

local read = emulator.read_file

describe("docs/reference (generated from the operation tables)", function()
  it("is what tools/gen_docs.lua writes now", function()
    assert.equals("", generated.diff("tools/gen_docs.lua", "docs/reference"))
  end)

  it("has a section for every operation, on its collection's page, linked from the index and README.md", function()
    local index = read("docs/reference/README.md")
    local pages, count = {}, 0
    for id, cname in pairs(endpoints.operations) do
      pages[cname] = pages[cname] or read("docs/reference/" .. cname .. ".md")
      assert.truthy(pages[cname]:find("\n## " .. id .. "\n", 1, true), id .. " missing from " .. cname .. ".md")
      assert.truthy(index:find("(" .. cname .. ".md)", 1, true), cname)
      count = count + 1
    end
    assert.equals(endpoints.unique_count, count)
    assert.truthy(read("README.md"):find("(docs/reference/README.md)", 1, true))
  end)

  it("shows Lua examples that compile, in each style", function()
    local styles, checked, seen = { "PEP8", "Operation ID", "Uber" }, 0, {}
    for _, name in pairs(endpoints.operations) do
      local text = not seen[name] and read("docs/reference/" .. name .. ".md") or ""
      seen[name] = true
      for _, style in ipairs(styles) do
        for code in text:gmatch("\n%- " .. style:gsub(" ", "%%s") .. ": `([^`\n]+)`") do
          local chunk, err = (loadstring or load)(code) -- luacheck: ignore 113
          assert.truthy(chunk, code .. ": " .. tostring(err))
          checked = checked + 1
        end
      end
    end
    -- three per operation of a service class, one (Uber) for the collections only the Uber class has
    assert.truthy(checked > 3 * 1700, checked)
  end)
end)
