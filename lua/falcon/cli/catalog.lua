--- What the command line, the Markdown reference and the LuaCATS files say about an operation:
-- names, parameters (type, limits, where they go), paging style. Read from the same generated
-- tables as the SDK (falcon.endpoints), so none of them can drift from what a call does.
local endpoints = require "falcon.endpoints"

local M = {}

--- Collection name as typed on the command line: message_center -> message-center.
function M.kebab(name) return (name:gsub("_", "-")) end

local function normal(name) return (name:gsub("%-", "_")) end

local class_of -- collection -> service class name (nil for the few collections only the Uber class has)
local function classes()
  if not class_of then
    class_of = {}
    for class, cname in pairs(endpoints.classes) do
      -- several classes may share a collection (aliases): the shortest name is the one shown
      local known = class_of[cname]
      if not known or #class < #known or (#class == #known and class < known) then class_of[cname] = class end
    end
  end
  return class_of
end

--- The service class name of a collection, or nil.
function M.class_name(cname) return classes()[cname] end

local collection_list
--- Every collection name (snake_case), sorted.
function M.collections()
  if not collection_list then
    local seen = {}
    collection_list = {}
    for _, cname in pairs(endpoints.operations) do
      if not seen[cname] then seen[cname] = true; collection_list[#collection_list + 1] = cname end
    end
    table.sort(collection_list)
  end
  return collection_list
end

local collection_set
--- A collection from a typed name: message-center, message_center or MessageCenter; nil if none.
function M.find_collection(typed)
  if not collection_set then
    collection_set = {}
    for _, c in ipairs(M.collections()) do collection_set[c] = true end
  end
  local cname = normal(typed):lower()
  if collection_set[cname] then return cname end
  return endpoints.classes[typed]
end

--- Every name typed on the command line that could mean a collection (for hints).
function M.typed_collections()
  local out = {}
  for i, c in ipairs(M.collections()) do out[i] = M.kebab(c) end
  return out
end

--- The operations of a collection as the SDK exposes them (duplicated Operation IDs: the first).
function M.operations(cname)
  local coll = endpoints.collection(cname)
  local out = {}
  for _, op in ipairs(coll.list) do
    if coll.by_id[op.id] == op then out[#out + 1] = op end
  end
  return out
end

--- Every name an operation answers to on a service object (PEP8, snake_case, Operation ID): the
-- tables hold a few legacy spellings of one Operation ID (RTR-ListFiles, RTR_ListFiles) whose
-- snake_case is taken by the first, so a name is listed only where it leads to this operation.
function M.names(op)
  local coll = endpoints.collection(op.collection)
  local out, seen = {}, {}
  for _, n in ipairs { op.pep8 or false, endpoints.snake(op.id), op.id } do
    if n and not seen[n] and (coll.by_id[n] == op or coll.by_name[n] == op) then
      seen[n] = true
      out[#out + 1] = n
    end
  end
  return out
end

--- The method name a service object shows first: the PEP8 name, else the snake_case of the ID
-- (else the Operation ID itself).
function M.method_name(op)
  local names = M.names(op)
  for _, n in ipairs(names) do
    if M.is_identifier(n) then return n end
  end
  return names[1] or op.id
end

local command_maps = {}
--- The command-line names of a collection's operations: { by_op = {op = name}, by_name = {name = op} }.
-- The kebab-case of the method name, or the Operation ID where a legacy spelling would collide.
local function command_map(cname)
  local map = command_maps[cname]
  if map then return map end
  map = { by_op = {}, by_name = {} }
  for _, op in ipairs(M.operations(cname)) do
    local name = M.kebab(M.method_name(op))
    if map.by_name[name] then name = op.id end
    map.by_op[op] = name
    if not map.by_name[name] then map.by_name[name] = op end
  end
  command_maps[cname] = map
  return map
end

--- The name of an operation on the command line (falcon <collection> <name>).
function M.command_name(op) return command_map(op.collection).by_op[op] end

--- An operation of a collection from a typed name (query-cases, query_cases, QueryCasesIdsByFilter).
function M.find_operation(cname, typed)
  local coll = endpoints.collection(cname)
  return command_map(cname).by_name[typed] or coll.by_id[typed] or coll.by_name[normal(typed)]
    or coll.by_name[normal(typed):lower()]
end

--- Every name typed on the command line that could mean an operation of a collection (for hints).
function M.typed_names(cname)
  local out = {}
  for _, op in ipairs(M.operations(cname)) do
    out[#out + 1] = M.command_name(op)
    out[#out + 1] = op.id
  end
  return out
end

--- The paging style an operation's parameters announce (the iterators confirm it from the answer).
-- offset: numeric offset + total; token: a string offset (scroll); after: an `after` token;
-- marker: `_marker` timestamps in the filter; none: one page.
function M.paging(op)
  local offset, after, marker
  for _, p in ipairs(op.params) do
    if p.name == "offset" and p["in"] == "query" then offset = p.type == "string" and "token" or "offset" end
    if p.name == "after" and p["in"] == "query" then after = true end
    if p.name == "sort" and p["in"] == "query" and p.enum then
      for _, v in ipairs(p.enum) do if tostring(v):find("^_marker") then marker = true end end
    end
  end
  local body = op.body_keywords or {}
  if body.after then after = true end
  if body.offset and not offset then offset = body.offset.type == "string" and "token" or "offset" end
  if after and not offset then return "after" end
  if marker then return "marker" end
  return offset or (after and "after") or "none"
end

--- Limits of a parameter as text ("1..500", "one of a, b", "at most 500 items"), or nil.
function M.limits(p)
  local parts = {}
  if p.min and p.max then parts[#parts + 1] = string.format("%s..%s", p.min, p.max)
  elseif p.min then parts[#parts + 1] = ">= " .. p.min
  elseif p.max then parts[#parts + 1] = "<= " .. p.max end
  if p.enum then
    local shown = {}
    for i, v in ipairs(p.enum) do shown[i] = tostring(v) end
    parts[#parts + 1] = "one of " .. table.concat(shown, ", ")
  end
  if p.max_items then parts[#parts + 1] = "at most " .. p.max_items .. " items (more are sent in batches)" end
  if p.max_bytes then parts[#parts + 1] = "at most " .. p.max_bytes .. " bytes" end
  if #parts == 0 then return nil end
  return table.concat(parts, "; ")
end

--- A parameter's type as text: integer, string, list of strings, object ...
function M.type_text(p)
  if p.type == "array" then return "list of " .. (p.items or "string") .. "s" end
  return p.type or "object"
end

--- The keyword arguments of an operation, in the order the API lists them:
-- { name, where = "query"|"path"|"header"|"formData"|"body"|"file", type, required, limits, key }.
-- Body keywords (the SDK's flattened body) come after the listed parameters, sorted; an operation
-- with a body but no body keywords takes the whole body as `body`.
function M.keywords(op)
  local out = {}
  local has_body
  for _, p in ipairs(op.params) do
    local where = p["in"]
    if where == "body" then
      has_body = p
    elseif not p.engine then
      local kw = { name = p.name, where = where, type = p.type, items = p.items, required = p.required == true,
                   min = p.min, max = p.max, enum = p.enum, max_items = p.max_items }
      if p.type == "file" then
        kw.name, kw.where, kw.type = "file_path", "file", "string"
        kw.max_bytes = op.upload and op.upload.max_bytes
        kw.form_name = p.name
      end
      out[#out + 1] = kw
    end
  end
  if op.body_keywords and next(op.body_keywords) then
    local names = {}
    for k in pairs(op.body_keywords) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do
      local b = op.body_keywords[k]
      out[#out + 1] = { name = k, where = "body", type = b.type, items = b.items, key = b.key or k,
                        max_items = b.max_items }
    end
  end
  if has_body then
    out[#out + 1] = { name = "body", where = "body", type = "object", required = has_body.required == true and
                      not (op.body_keywords and next(op.body_keywords)), whole_body = true }
  end
  return out
end

--- A placeholder value of a keyword's type, for examples.
function M.sample(kw)
  if kw.type == "object" or (kw.type == "array" and kw.items == "object") then return "{}" end
  if kw.type == "array" and (kw.items == "integer" or kw.items == "number") then return "1" end
  if kw.enum then return tostring(kw.enum[1]) end
  if kw.type == "integer" or kw.type == "number" then return tostring(kw.min or (kw.max and math.min(kw.max, 10)) or 10) end
  if kw.type == "boolean" then return "true" end
  if kw.where == "file" then return "evidence.txt" end
  if kw.name == "filter" then return "FQL" end
  return kw.name:upper()
end

--- The keywords an example shows: the required ones, else the first one.
function M.example_keywords(op)
  local shown = {}
  local all = M.keywords(op)
  for _, kw in ipairs(all) do
    if kw.required and not kw.whole_body then shown[#shown + 1] = kw end
  end
  if #shown == 0 then -- the first plain value, else the first of any kind
    for _, kw in ipairs(all) do
      if not kw.whole_body and kw.type ~= "object" and kw.items ~= "object" then shown[1] = kw; break end
    end
  end
  if #shown == 0 then
    for _, kw in ipairs(all) do
      if not kw.whole_body then shown[1] = kw; break end
    end
  end
  return shown
end

local function lua_literal(kw)
  local v = M.sample(kw)
  if kw.type == "integer" or kw.type == "number" or kw.type == "boolean" then return v end
  if kw.type == "object" then return "{}" end
  if kw.type == "array" and kw.items == "object" then return "{ {} }" end
  if kw.type == "array" and (kw.items == "integer" or kw.items == "number") then return "{ 1 }" end
  if kw.type == "array" then return string.format('{ "%s" }', v) end
  return string.format('"%s"', v)
end

local RESERVED = {}
for word in ("and break do else elseif end false for function goto if in local nil not or repeat return then "
  .. "true until while"):gmatch("%a+") do RESERVED[word] = true end

--- True when `name` can be written bare in Lua (`t.name`, `{ name = v }`, `obj:name()`).
function M.is_identifier(name)
  return name:find("^[%a_][%w_]*$") ~= nil and not RESERVED[name]
end

--- A table key as Lua source: `name` or `["odd-name"]`.
function M.lua_key(name)
  if M.is_identifier(name) then return name end
  return string.format("[%q]", name)
end

local function shell_word(s)
  if s:find("^[%w%._/:%-,=]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Examples of one call in each style: { cli, call (Uber form on the command line), pep8, operation_id, uber }.
function M.examples(op)
  local cname = op.collection
  local class = M.class_name(cname)
  local shown = M.example_keywords(op)
  local flags, pairs_, fields = {}, {}, {}
  for _, kw in ipairs(shown) do
    local flag = kw.where == "file" and "--file" or ("--" .. kw.name:gsub("_", "-"))
    flags[#flags + 1] = flag .. " " .. shell_word(M.sample(kw))
    pairs_[#pairs_ + 1] = shell_word(kw.name .. "=" .. M.sample(kw))
    fields[#fields + 1] = string.format("%s = %s", M.lua_key(kw.name), lua_literal(kw))
  end
  local args = #fields > 0 and ("{ " .. table.concat(fields, ", ") .. " }") or "{}"
  local ex = {
    cli = table.concat({ "falcon", M.kebab(cname), M.command_name(op), table.concat(flags, " ") }, " ")
      :gsub("%s+$", ""),
    call = table.concat({ "falcon call", op.id, table.concat(pairs_, " ") }, " "):gsub("%s+$", ""),
    uber_setup = "local uber = falcon.APIHarnessV2 { client_id = ..., client_secret = ... }",
    uber = string.format('uber:command("%s", %s)', op.id, args),
  }
  if class then
    local object = cname
    ex.setup = string.format("local %s = falcon.%s { client_id = ..., client_secret = ... }", object, class)
    local function call(name)
      if M.is_identifier(name) then return string.format("%s:%s %s", object, name, args) end
      return string.format('%s["%s"](%s, %s)', object, name, object, args)
    end
    ex.pep8 = call(M.method_name(op))
    ex.operation_id = call(op.id)
  end
  return ex
end

return M
