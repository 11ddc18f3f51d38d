--- `falcon help`: an operation's names, what it does, its route, paging style, parameters (type, where
-- it goes, limits, what it is for) and an example in each style, from the operation tables and, for what
-- they do, the docs (falcon.cli.descriptions).
local catalog = require "falcon.cli.catalog"

local M = {}

local PAGING = {
  offset = "offset (numeric offset + total): --all pages through everything; --parallel N fetches N pages at once",
  token = "scroll (a string offset token names the next page): --all pages through everything, one page at a time",
  after = "after token: --all pages through everything, one page at a time",
  marker = "_marker timestamps in the filter: --all pages through everything, one page at a time",
  none = "one answer (no paging)",
}
M.PAGING = PAGING

--- An upload's limits in words ("at most N bytes; extensions a, b"), for `falcon help` and the docs.
function M.upload_limits(op)
  return ("at most %d bytes; extensions %s"):format(op.upload.max_bytes, table.concat(op.upload.extensions or {}, ", "))
end

--- The rows of a parameter table: { flag, type, where, notes }.
function M.parameter_rows(op)
  local rows = {}
  for _, kw in ipairs(catalog.keywords(op)) do
    local flag = kw.where == "file" and "--file" or ("--" .. kw.name:gsub("_", "-"))
    local notes = {}
    if kw.required then notes[#notes + 1] = "required" end
    if kw.key and kw.key ~= kw.name then notes[#notes + 1] = "sent as body key '" .. kw.key .. "'" end
    if kw.form_name then notes[#notes + 1] = "sent as form part '" .. kw.form_name .. "'" end
    if kw.whole_body then notes[#notes + 1] = "the whole JSON body (@file.json or inline)" end
    local limits = catalog.limits(kw)
    if limits then notes[#notes + 1] = limits end
    local where = kw.where == "formData" and "form" or kw.where == "file" and "form (file)" or kw.where
    rows[#rows + 1] = { flag = flag, name = kw.name, type = catalog.type_text(kw), where = where,
                        notes = table.concat(notes, "; "), form_name = kw.form_name }
  end
  return rows
end

--- `text` in lines of at most `width` columns, each after `indent`.
function M.wrap(text, indent, width)
  local lines, line = {}, indent
  for word in text:gmatch("%S+") do
    if #line > #indent and #line + 1 + #word > width then
      lines[#lines + 1] = line
      line = indent
    end
    line = line .. (#line > #indent and " " or "") .. word
  end
  if #line > #indent then lines[#lines + 1] = line end
  return lines
end

-- What the docs say an operation and its parameters do ({ text, params = { name = text } }), or nil:
-- falcon.cli.descriptions, generated from the seed documents (the operation table has none).
local function descriptions(op)
  -- Required on the first help text, not above: the generated descriptions are large, and `falcon --help`
  -- starts without them.
  local ok, all = pcall(require, "falcon.cli.descriptions")
  return ok and all[op.id] or nil
end

function M.text(op)
  local lines = {}
  local function add(...) lines[#lines + 1] = table.concat({ ... }) end
  local described = descriptions(op)
  add(op.id, " - falcon ", catalog.kebab(op.collection), " ", catalog.command_name(op))
  if described then
    for _, l in ipairs(M.wrap(described.text, "  ", 100)) do add(l) end
  end
  add("  ", op.method, " ", op.route)
  add("  method names: ", table.concat(catalog.names(op), ", "),
    catalog.class_name(op.collection) and (" (falcon." .. catalog.class_name(op.collection) .. ")") or " (Uber class only)")
  if op.decommissioned then add("  decommissioned upstream: it still works and warns") end
  if op.upload then
    add("  upload: ", M.upload_limits(op))
  end
  if op.produces then add("  returns: ", op.produces) end
  add("  paging: ", PAGING[catalog.paging(op)])
  add("")
  local rows = M.parameter_rows(op)
  if #rows == 0 then
    add("parameters: none")
  else
    add("parameters:")
    local w1, w2, w3 = 0, 0, 0
    for _, r in ipairs(rows) do
      w1, w2, w3 = math.max(w1, #r.flag), math.max(w2, #r.type), math.max(w3, #r.where)
    end
    local said = described and described.params or {}
    for _, r in ipairs(rows) do
      local line = string.format("  %-" .. w1 .. "s  %-" .. w2 .. "s  %-" .. w3 .. "s  %s", r.flag, r.type, r.where,
        r.notes)
      add((line:gsub("%s+$", "")))
      -- the file part is FalconPy's file_data (the docs' name for it)
      local text = said[r.name] or (r.form_name and (said.file_data or said[r.form_name]))
      if text then
        for _, l in ipairs(M.wrap(text, "      ", 100)) do add(l) end
      end
    end
  end
  add("")
  local ex = catalog.examples(op)
  add("examples:")
  add("  ", ex.cli)
  add("  ", ex.call)
  if ex.pep8 then
    add("  ", ex.setup)
    add("  ", ex.pep8)
    add("  ", ex.operation_id)
  end
  add("  ", ex.uber_setup)
  add("  ", ex.uber)
  return table.concat(lines, "\n") .. "\n"
end

--- `falcon help <collection>`: its operations.
function M.collection_text(cname)
  local lines = { string.format("%s (%s): %d operations", catalog.kebab(cname),
    catalog.class_name(cname) and ("falcon." .. catalog.class_name(cname)) or "Uber class only",
    #catalog.operations(cname)) }
  for _, op in ipairs(catalog.operations(cname)) do
    lines[#lines + 1] = string.format("  %-40s %s", catalog.command_name(op), op.id)
  end
  return table.concat(lines, "\n") .. "\n"
end

return M
