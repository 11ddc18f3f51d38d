--- The multipart stage of the request builder: form-data keywords, the file part of an upload (from
--- `file_data`, `sample`, `upfile`, the file parameter's own keyword, Uber's `data = "bytes"`, or
--- `file_path`, which the engine streams from disk), and the upload rules of the operation (Message
--- Center's, from ../shared/spec/API.md). Uber's `files = {...}` and `data = {...}` reach this stage as
--- parts already built by falcon.call.forms.
local check = require "falcon.payload.check"
local errors = require "falcon.base.errors"

local fail, describe, check_text, shown = check.fail, check.describe, check.check_text, check.shown

local M = {}

local mime_types = {
  bmp = "image/bmp", jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif", png = "image/png",
  pdf = "application/pdf", doc = "application/msword",
  docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  ppt = "application/vnd.ms-powerpoint",
  pptx = "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  xls = "application/vnd.ms-excel",
  xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  csv = "text/csv", txt = "text/plain", json = "application/json", zip = "application/zip",
  yaml = "application/x-yaml", yml = "application/x-yaml", xml = "application/xml",
  gz = "application/gzip", ["7z"] = "application/x-7z-compressed",
}

--- Content-Type for a file name, from its extension.
function M.mime_type(filename)
  local ext = filename:match("%.([^./]+)$")
  return ext and mime_types[ext:lower()] or "application/octet-stream"
end

local function basename(path)
  return path:match("([^/]+)/*$") or path
end

local ENOMEM = 12 -- errno: the file may well be there; the memory to open it is not

--- Size of a regular file; raises naming `argname` when it is missing or a directory.
local function file_size(name, argname, path)
  local f, err, code = io.open(path, "rb")
  if not f and code == ENOMEM then errors.raise(name, "out of memory while opening '%s'", argname) end
  if not f then fail(name, argname, "readable file expected: " .. tostring(err)) end
  local first, rerr = f:read(1)
  if first == nil and rerr then
    f:close()
    fail(name, argname, "regular file expected: " .. path .. ": " .. tostring(rerr))
  end
  local size = f:seek("end")
  f:close()
  return size
end

--- Checks a file name and size against the operation's upload rules (API.md for Message Center).
local function check_upload(name, op, argname, filename, size)
  check_text(name, argname, filename)
  if filename == "" then fail(name, argname, "non-empty file name expected") end
  if filename:find("%c") then
    fail(name, argname, "file name without control characters expected, got " .. shown(filename))
  end
  if filename:find('["/\\]') then fail(name, argname, "file name without quotes or slashes expected, got " .. shown(filename)) end
  local rules = op and op.upload
  if not rules then return end
  if #filename > rules.name_max then
    fail(name, argname, "file name of at most " .. rules.name_max .. " characters expected, got " .. #filename)
  end
  if not filename:match("^[%w_%-]") then
    fail(name, argname, "file name starting with A-Z, a-z, 0-9, '_' or '-' expected, got " .. shown(filename))
  end
  if filename:find("[^%w%._%-]") then
    fail(name, argname, "file name of only A-Z, a-z, 0-9, '.', '_', '-' expected, got " .. shown(filename))
  end
  local ext = (filename:match("%.([^.]+)$") or ""):lower()
  local allowed = false
  for _, e in ipairs(rules.extensions) do if e == ext then allowed = true end end
  if not allowed then
    fail(name, argname, "file extension one of " .. table.concat(rules.extensions, ", ") ..
      " expected, got '" .. (ext == "" and "(none)" or ext) .. "'")
  end
  if size > rules.max_bytes then
    fail(name, argname, string.format("file of at most %d bytes (15 MB) expected, got %d bytes", rules.max_bytes, size))
  end
end

-- The Message Center docs upload `file_data = PAYLOAD` with no file name, while the API wants one with
-- an allowed extension. For bytes whose kind is certain from their first bytes (or plain text), the name
-- is "attachment.<ext>"; anything else still needs file_name.
local SIGNATURES = {
  { "^\137PNG\r\n\26\n", "png" }, { "^\255\216\255", "jpg" }, { "^GIF8[79]a", "gif" }, { "^BM", "bmp" },
  { "^%%PDF%-", "pdf" },
}
local function sniffed_name(op, bytes)
  if not (op and op.upload) then return nil end
  local ext
  for _, sig in ipairs(SIGNATURES) do
    if bytes:find(sig[1]) then ext = sig[2]; break end
  end
  if not ext and bytes ~= "" and not bytes:sub(1, 4096):find("[%z\1-\8\14-\31\127]") then ext = "txt" end
  return ext and ("attachment." .. ext) or nil
end

M.basename, M.file_size, M.check_upload = basename, file_size, check_upload

-- The bytes of an upload: at most one of the keywords that carry them.
local function file_bytes(name, file_param, args, used)
  local bytes, source
  local keys, seen = {}, {}
  for _, k in ipairs({ file_param.name, "file_data", "sample", "upfile", "data" }) do
    if not seen[k] then keys[#keys + 1] = k; seen[k] = true end
  end
  for _, k in ipairs(keys) do
    local v = args[k]
    if type(v) == "string" then
      if bytes then fail(name, k, "only one of file_data, sample, upfile, " .. file_param.name ..
          " or file_path expected") end
      bytes, source = v, k
      used[k] = true
    elseif v ~= nil and k ~= "data" then
      fail(name, k, "string of file bytes expected, got " .. type(v))
    end
  end
  return bytes, source
end

--- Builds the file part of an upload from the keywords; nil when none names a file.
local function file_part(name, op, file_param, args, used)
  local bytes, source = file_bytes(name, file_param, args, used)
  local path = args.file_path
  if path ~= nil then
    if type(path) ~= "string" then fail(name, "file_path", "string expected, got " .. type(path)) end
    if bytes then fail(name, "file_path", "either file_path or " .. source .. " expected, not both") end
    check_text(name, "file_path", path)
    used.file_path = true
  end
  if not bytes and not path then return nil end
  local filename = args.file_name
  if filename ~= nil and type(filename) ~= "string" then
    fail(name, "file_name", "string expected, got " .. type(filename))
  end
  if filename then used.file_name = true end
  if not filename then
    filename = path and basename(path) or sniffed_name(op, bytes)
    if not filename then
      fail(name, "file_name", "file name expected with " .. source .. " (e.g. file_name = \"report.pdf\"): "
        .. "these bytes are not an image, a PDF or text, whose name could be chosen for them")
    end
  end
  local size = path and file_size(name, "file_path", path) or #bytes
  check_upload(name, op, "file_name", filename, size)
  return { name = file_param.name, data = bytes, path = path, filename = filename,
           content_type = M.mime_type(filename) }
end

-- One form-data keyword's value(s) as form fields: a list repeats the field for collectionFormat `multi`, and
-- is one comma-separated field otherwise (the swagger's default, csv).
local function add_field(ctx, p, v, argname)
  local name, key = ctx.name, p.name
  local values = p.type == "array" and check.as_list(name, argname, v, p, type(v) == "string")
    or { check.check_scalar(name, argname, v, p) }
  local texts = {}
  for i, x in ipairs(values) do
    texts[i] = check.scalar_string(x)
    check_text(name, argname, texts[i])
  end
  if p.type == "array" and p.collectionFormat ~= "multi" then texts = { table.concat(texts, ",") } end
  for _, text in ipairs(texts) do ctx.form[#ctx.form + 1] = { name = key, value = text } end
end

local function append(ctx, part)
  ctx.form = ctx.form or {}
  ctx.form[#ctx.form + 1] = part
end

--- Form-data keywords, the parts Uber's forms built (`extra.form`) and the file part into ctx.form.
function M.stage(ctx, extra)
  local op, args, name = ctx.op, ctx.args, ctx.name
  for _, p in ipairs(op.params) do
    if p["in"] == "formData" then
      ctx.form = ctx.form or {}
      local v, argname = check.given(name, args, p, p.type ~= "file" and ctx.used or nil)
      if p.type == "file" then
        ctx.file_param = p
      elseif v ~= nil then
        add_field(ctx, p, v, argname)
      elseif p.required and not (p.name == "file_name" and args.file_path) then
        fail(name, p.name, describe(p) .. " expected, got nil")
      end
    end
  end
  if args.data ~= nil and type(args.data) ~= "string" then
    fail(name, "data", "file bytes as a string expected, got " .. type(args.data)
      .. " (form fields as a table are the Uber class's data = {...})")
  end
  for _, part in ipairs(extra and extra.form or {}) do append(ctx, part) end
  local file_param = ctx.file_param
  if file_param or (op.synthetic and (args.file_data or args.file_path or args.upfile
      or type(args.data) == "string")) then
    file_param = file_param or { name = "file", type = "file" }
    local part = file_part(name, op, file_param, args, ctx.used)
    if part then
      append(ctx, part)
      -- Operations with a `file_name` form field (e.g. UploadSampleV3) also get it as a field.
      local field = ctx.by_name.file_name
      if field and field["in"] == "formData" and args.file_name == nil then
        append(ctx, { name = "file_name", value = part.filename })
      end
    elseif file_param.required and not (extra and extra.files) then
      fail(name, "file_data", "file bytes (file_data) or file_path expected, got nil")
    end
  end
end

local UPLOAD_KEYWORDS = { "file_data", "upfile", "file_name", "file_path", "data", "sample" }

--- Upload keywords on an operation that uploads nothing are mistakes, not no-ops.
function M.check_unused(ctx)
  local args, op = ctx.args, ctx.op
  if op.synthetic then return end
  for _, k in ipairs(UPLOAD_KEYWORDS) do
    local p = ctx.by_name[k]
    if args[k] ~= nil and not ctx.used[k] and not (p and p["in"] ~= "body") then
      fail(ctx.name, k, "not accepted: this operation uploads no file")
    end
  end
end

return M
