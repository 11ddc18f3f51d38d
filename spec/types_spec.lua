-- types/ (LuaCATS definitions for the Lua language server) is what tools/gen_types.lua makes of the
-- operation tables, covers every operation of every service class under each of its names, and parses:
-- as Lua, and line by line as the annotations the language server reads. (The language server itself
-- is not packaged by Debian, so these checks stand in for it.)
local emulator = require "spec.helpers.emulator"
local generated = require "spec.helpers.generated"
local endpoints = require "falcon.endpoints"
local catalog = require "falcon.cli.catalog"

local run, read = emulator.run, emulator.read_file

local function files()
  local out = {}
  for path in run("ls types/falcon/*.lua"):gmatch("[^\n]+") do out[#out + 1] = path end
  return out
end

-- The annotation forms the generator writes, as LuaCATS spells them.
local NAME = "[%a_][%w_%.]*"
local FORMS = {
  "^%-%-%-@meta$",
  "^%-%-%-@class " .. NAME .. "$",
  "^%-%-%-@class " .. NAME .. ": " .. NAME .. "$",
  "^%-%-%-@class " .. NAME .. ": " .. NAME .. ", [%w_%., ]+$", -- several bases (NetworkScan)
  "^%-%-%-@field [%a_][%w_]*%?? %S.*$",
  '^%-%-%-@field %["[^"]+"%]%?? %S.*$',
  "^%-%-%-@param [%a_][%w_]*%?? %S.*$",
  "^%-%-%-@return %S.*$",
  "^%-%-%-@alias " .. NAME .. "$",
  '^%-%-%-| "[^"]+"$',
}

describe("types/ (LuaCATS definitions)", function()
  it("is what tools/gen_types.lua writes now", function()
    assert.equals("", generated.diff("tools/gen_types.lua", "types"))
  end)

  it("parses: every file is Lua, starts with ---@meta, and every annotation has a known form", function()
    for _, path in ipairs(files()) do
      assert.truthy(loadfile(path), path)
      local text = read(path)
      assert.equals("---@meta\n", text:sub(1, 9), path)
      local n = 0
      for line in text:gmatch("[^\n]+") do
        if line:find("^%-%-%-[@|]") then
          n = n + 1
          local known = false
          for _, form in ipairs(FORMS) do if line:find(form) then known = true; break end end
          assert.truthy(known, path .. ": " .. line)
        end
      end
      assert.truthy(n > 3, path)
    end
  end)

  it("covers every operation of every service class under each of its names, with its parameters", function()
    local init = read("types/falcon/init.lua")
    local methods = 0
    for class, cname in pairs(endpoints.classes) do
      local canonical = catalog.class_name(cname)
      assert.truthy(init:find("---@field " .. class .. " fun(opts?: falcon.Options): falcon." .. canonical .. "\n", 1,
        true), class)
      local text = read("types/falcon/" .. canonical .. ".lua")
      if class == canonical then
        for _, op in ipairs(catalog.operations(cname)) do
          for _, name in ipairs(catalog.names(op)) do
            local plain = "function " .. class .. ":" .. name .. "(args) end"
            local bracket = class .. '["' .. name .. '"] = function(self, args) end'
            assert.truthy(text:find(plain, 1, true) or text:find(bracket, 1, true), class .. ":" .. name)
            methods = methods + 1
          end
          for _, kw in ipairs(catalog.keywords(op)) do
            assert.truthy(text:find(kw.name, 1, true), op.id .. " " .. kw.name)
          end
        end
      end
    end
    assert.truthy(methods >= endpoints.unique_count, methods) -- most operations have two or three names
    for id in pairs(endpoints.operations) do assert.truthy(init:find('\n---| "' .. id .. '"\n', 1, true), id) end
  end)
end)
