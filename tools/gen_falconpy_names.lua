#!/usr/bin/env lua5.4
--- Reads FalconPy's service classes and writes what they call each operation: tools/falconpy_names.lua,
--- the data tools/gen_endpoints.lua takes FalconPy's class and method names from.
--
-- Usage: lua5.4 tools/gen_falconpy_names.lua FALCONPY_SRC [OUT]
--   FALCONPY_SRC: a FalconPy checkout's src/falconpy folder (1.6.2 made the committed file)
--   OUT defaults to tools/falconpy_names.lua
--
-- Facts only: for every class the package exports, its method names and the Operation ID each one sends
-- (a method's `operation_id="..."`, a class-level alias `alias = method`, the classes it is made of), and
-- the package's other names for a class (`from .module import Class, Alias`). FalconPy's source is read
-- line by line; its layout is regular (4-space class bodies), and a method no operation is found for is
-- listed under `unmapped`, so a change of layout shows in the output instead of passing unseen.
local src = assert(arg[1], "usage: lua5.4 tools/gen_falconpy_names.lua FALCONPY_SRC [OUT]")
local script_dir = (arg[0] or ""):match("^(.*)/tools/[^/]*$") or "."
local out_path = arg[2] or (script_dir .. "/tools/falconpy_names.lua")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

-- FalconPy's OAuth2 class does the token requests itself (FalconInterface), with no operation_id.
local interface_methods = { token = "oauth2AccessToken", revoke = "oauth2RevokeToken" }

local classes, module_aliases = {}, {}

--- One module: its classes (bases, methods in source order, aliases) and module-level class aliases.
local function read_module(text)
  local class, method, pending_bases
  local function close_method()
    if method and class then class.methods[#class.methods + 1] = method end
    method = nil
  end
  local in_string = false -- inside a triple-quoted string (a docstring may start a line at column 0)
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local was_in_string = in_string
    if select(2, line:gsub('"""', "")) % 2 == 1 then in_string = not in_string end
    line = line:gsub("%s+#[^\"]*$", "") -- a trailing comment (`alias = method  # Typo fix`)
    if was_in_string or in_string then -- luacheck: ignore 542 (docstring text: nothing structural)
    elseif pending_bases then
      pending_bases = pending_bases .. line
      if line:find("%)%s*:") then
        for b in pending_bases:gsub("#[^\n]*", ""):gmatch("[%a_][%w_]*") do class.bases[#class.bases + 1] = b end
        pending_bases = nil
      end
    elseif line:match("^class ") then
      close_method()
      local name, rest = line:match("^class ([%a_][%w_]*)%((.*)$")
      class = { name = name, bases = {}, methods = {}, aliases = {} }
      classes[name] = class
      if rest:find("%)%s*:") then
        for b in rest:match("^(.-)%)"):gmatch("[%a_][%w_]*") do class.bases[#class.bases + 1] = b end
      else
        pending_bases = rest
      end
    elseif line:match("^%S") then
      close_method()
      local alias, target = line:match("^(%u[%w_]*) = (%u[%w_]*)%s*$")
      if alias then module_aliases[alias] = target end
      class = line:match("^class ") and class or nil
    elseif class then
      local def = line:match("^    def ([%a_][%w_]*)%(")
      local alias, target = line:match("^    ([%a_][%w_]*) = ([%a_][%w_]*)%s*$")
      if def then
        close_method()
        method = { name = def }
      elseif alias then
        close_method()
        class.aliases[#class.aliases + 1] = { alias, target }
      elseif method and not method.op then
        method.op = line:match("operation_id%s*=%s*\"([^\"]+)\"")
      end
    end
  end
  close_method()
end

local files = {}
for name in io.popen("ls '" .. src .. "'"):lines() do
  if name:match("^[%l%d_]+%.py$") and name ~= "__init__.py" then files[#files + 1] = name end
end
table.sort(files)
for _, name in ipairs(files) do read_module(read(src .. "/" .. name)) end

-- What the package exports: `from .module import A, B` in __init__.py.
local exported = {}
for list in read(src .. "/__init__.py"):gmatch("\nfrom %.[%w_]+ import ([^\n(]+)") do
  for n in list:gmatch("[%a_][%w_]*") do exported[n] = true end
end

--- A class's {name, operation id} pairs: its bases' first, then its own methods, then its aliases.
local function pairs_of(class, unmapped)
  local list, op_of = {}, {}
  for _, b in ipairs(class.bases) do
    if classes[b] then
      for _, pair in ipairs(pairs_of(classes[b], unmapped)) do
        list[#list + 1] = pair
        op_of[pair[1]] = pair[2]
      end
    end
  end
  for _, m in ipairs(class.methods) do
    local op = m.op or (class.name == "OAuth2" and interface_methods[m.name])
    if op then
      list[#list + 1] = { m.name, op }
      op_of[m.name] = op
    elseif not m.name:match("^_") then
      unmapped[#unmapped + 1] = m.name
    end
  end
  for _, a in ipairs(class.aliases) do
    if op_of[a[2]] then list[#list + 1] = { a[1], op_of[a[2]] } end
  end
  return list
end

local names, sorted = {}, {}
for name, class in pairs(classes) do
  if exported[name] and name ~= "ServiceClass" then sorted[#sorted + 1] = name end
  names[name] = class
end
table.sort(sorted)

local lines = { "-- Generated by tools/gen_falconpy_names.lua from FalconPy 1.6.2 (src/falconpy); do not edit.",
  "-- Facts read from FalconPy's service classes: each class the package exports, its method names and the",
  "-- Operation ID each one sends, in FalconPy's order (methods, then aliases); tools/gen_endpoints.lua reads it.",
  "return {", "  classes = {" }
local function q(s) return string.format("%q", s) end
for _, name in ipairs(sorted) do
  local unmapped = {}
  local items = {}
  for i, pair in ipairs(pairs_of(names[name], unmapped)) do items[i] = "{" .. q(pair[1]) .. "," .. q(pair[2]) .. "}" end
  local bases = {}
  for _, b in ipairs(names[name].bases) do if classes[b] and b ~= "ServiceClass" then bases[#bases + 1] = q(b) end end
  lines[#lines + 1] = string.format("    %s = { bases = {%s}, methods = {%s},%s },", name, table.concat(bases, ","),
    table.concat(items, ","), #unmapped > 0 and (" unmapped = {" .. table.concat((function()
      local u = {}
      for i, m in ipairs(unmapped) do u[i] = q(m) end
      return u
    end)(), ",") .. "}") or "")
end
lines[#lines + 1] = "  },"
lines[#lines + 1] = "  -- Other names the package exports for a class."
local alias_names = {}
for alias in pairs(module_aliases) do if exported[alias] then alias_names[#alias_names + 1] = alias end end
table.sort(alias_names)
local alias_items = {}
for i, alias in ipairs(alias_names) do alias_items[i] = alias .. " = " .. q(module_aliases[alias]) end
lines[#lines + 1] = "  aliases = { " .. table.concat(alias_items, ", ") .. " },"
lines[#lines + 1] = "}"
local f = assert(io.open(out_path, "wb"))
f:write(table.concat(lines, "\n"), "\n")
f:close()
io.stderr:write(("gen_falconpy_names: %d classes, %d aliases -> %s\n"):format(#sorted, #alias_names, out_path))
