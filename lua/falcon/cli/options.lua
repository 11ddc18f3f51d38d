--- The command's own options (every operation takes them) and how a command line splits into them, the
-- operation's flags (--name value, name=value in the Uber form) and positional words.
--
-- Options before the command (`falcon --region us-2 hosts ...`) are always the command's. After the
-- operation, an operation's own parameter wins over an option of the same name (a few operations take
-- `format`, `fields` or `region`): the option is then given before the command, or as --output.
local usage = require("falcon.cli.args").usage

local M = {}

-- name -> whether a value follows
local OPTIONS = {
  all = false, parallel = true, body = true, file = true, ["output-file"] = true, output = true, format = true,
  fields = true, profile = true, ["base-url"] = true, region = true, ["member-cid"] = true, debug = false,
  help = false,
}
M.OPTIONS = OPTIONS

-- Spellings of the same option: --output is the aws CLI's word for the format.
local SAME = { output = "format", ["output-format"] = "format", region = "base-url" }

M.FORMATS = { json = true, table = true, csv = true, text = true }

local function option_name(word)
  if word == "-h" then return "help" end
  return word:match("^%-%-([^=]+)=") or word:match("^%-%-(.+)$")
end

-- Records one option; `typed` is what the user wrote (--output), kept for messages.
local function set(opts, typed, value)
  local key = SAME[typed] or typed
  if opts[key] ~= nil then
    local first = opts._typed[key]
    usage(first == typed and "--%s given twice" or "--%s and --%s name the same setting; give one", first, typed)
  end
  opts[key] = value
  opts._typed[key] = typed
end

local function take_value(words, i, name, inline)
  if inline ~= nil then return inline, i end
  local value = words[i + 1]
  if value == nil then usage("--%s needs a value", name) end
  return value, i + 1
end

--- Options at the front of `words`, before the command: (options, the words after them).
function M.leading(words)
  local opts = { _typed = {} }
  local i = 1
  while words[i] and words[i] ~= "--help" and words[i] ~= "-h" do
    local name = option_name(words[i])
    local takes
    if name and OPTIONS[name] ~= nil then takes = OPTIONS[name] elseif name and SAME[name] then takes = true end
    if takes == nil then break end
    local inline = words[i]:match("^%-%-[^=]+=(.*)$")
    if takes then
      local value
      value, i = take_value(words, i, name, inline)
      set(opts, name, value)
    else
      if inline then usage("--%s takes no value", name) end
      set(opts, name, true)
    end
    i = i + 1
  end
  local rest = {}
  for j = i, #words do rest[#rest + 1] = words[j] end
  return opts, rest
end

--- Splits words into options, flags (--name value / name=value) and positional words. `own`: the
--- operation's parameter names (they win over options of the same name); `opts`: options already given.
function M.parse(words, pairs_allowed, own, opts)
  opts = opts or { _typed = {} }
  own = own or {}
  local flags, positional = {}, {}
  local i = 1
  while i <= #words do
    local w = words[i]
    local name = option_name(w)
    local inline = w:match("^%-%-[^=]+=(.*)$")
    local takes -- false: an option without value; true: one with a value; nil: the operation's flag
    if name == "output-format" then takes = true
    elseif name and not own[name] then takes = OPTIONS[name] end
    if name and takes == false then
      if inline then usage("--%s takes no value", name) end
      set(opts, name, true)
    elseif name then
      local value
      value, i = take_value(words, i, name, inline)
      if takes then set(opts, name, value)
      else flags[#flags + 1] = { name = name, value = value, style = "flag" } end
    elseif pairs_allowed and w:find("^[%w_%.%-]+=") then
      local k, v = w:match("^([^=]+)=(.*)$")
      if OPTIONS[k] ~= nil and not own[k] then usage("%s: use --%s", w, k) end
      flags[#flags + 1] = { name = k, value = v, style = "pair" }
    else
      positional[#positional + 1] = w
    end
    i = i + 1
  end
  return opts, flags, positional
end

local function check_format(opts)
  local format = opts.format
  if format == nil or M.FORMATS[format] then return end
  local typed = opts._typed.format
  local hint = ""
  if typed == "output" then hint = string.format(" (the file a download or an answer is written to: --output-file %s)", format) end
  usage("--%s: json, table, csv or text expected, got '%s'%s", typed, format, hint)
end

local function check_fields(opts)
  if opts.fields == nil then return end
  local list = {}
  for field in (opts.fields .. ","):gmatch("([^,]*),") do
    field = field:match("^%s*(.-)%s*$")
    if not field:find("^[%w_%-]+[%w_%.%-]*$") then
      usage("--fields: names separated by commas expected (a.b for a nested field), got '%s'", opts.fields)
    end
    list[#list + 1] = field
  end
  opts.fields = list
end

--- Checks the options' values and how they go together; turns --parallel and --fields into values.
function M.check(opts)
  check_format(opts)
  check_fields(opts)
  if opts.parallel then
    local n = tonumber(opts.parallel)
    if not n or n ~= math.floor(n) or n < 1 or n > 64 then
      usage("--parallel: integer 1..64 expected, got '%s'", opts.parallel)
    end
    if not opts.all then usage("--parallel works with --all") end
    opts.parallel = n
  end
  if opts.all and opts["output-file"] then usage("--all and --output-file do not go together") end
  if opts.fields and opts.format == nil then opts.format = "json" end
  return opts
end

return M
