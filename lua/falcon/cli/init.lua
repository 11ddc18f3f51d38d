--- The `falcon` command (bin/falcon): every Falcon API operation from the shell.
--
--   falcon <collection> <operation> [--param value ...] [positional ids]
--   falcon call <OperationId> [key=value ...]        the Uber form
--   falcon ops [pattern] | help <operation> | configure [--profile NAME]
--   falcon emulator start|stop|env | completion bash|zsh
--
-- Exit codes: 0 success, 1 API error, 2 usage error, 3 transport error, 130 interrupted (Ctrl-C).
local args_mod = require "falcon.cli.args"
local catalog = require "falcon.cli.catalog"
local output = require "falcon.cli.output"
local profile = require "falcon.cli.profile"
local suggest = require "falcon.suggest"

local usage = args_mod.usage
local unpack = table.unpack or unpack -- luacheck: ignore 143

local M = {}

M.EXIT = { ok = 0, api = 1, usage = 2, transport = 3, interrupted = 130 }

M.USAGE = [[
usage: falcon <collection> <operation> [--parameter value ...] [options]
       falcon call <OperationId> [key=value ...] [options]
       falcon ops [pattern]              list operations (collection, name, Operation ID, route)
       falcon help [<collection>] <operation>
       falcon configure [--profile NAME] store credentials in a profile (mode 0600)
       falcon emulator start|stop|env    a local Falcon API emulator to try everything offline
       falcon watch [--filter FQL] ...   Message Center changes as they happen, as NDJSON
       falcon completion bash|zsh        a completion script: source <(falcon completion bash)

options:
  --all              page through every result; one JSON item per line (NDJSON)
  --parallel N       with --all: fetch N pages at once where the paging style allows (offset)
  --body @FILE|JSON  the whole request body
  --file PATH        the file to upload (streamed)
  --output PATH      write a download to PATH (streamed; nothing is left behind on failure)
  --format json|table  json (default: indented on a terminal, one line when piped) or a table
                     (--output-format where the operation has a `format` parameter of its own)
  --profile NAME     credentials from a profile (else FALCON_CLIENT_ID, FALCON_CLIENT_SECRET,
                     FALCON_BASE_URL, FALCON_MEMBER_CID, else the profile 'default')

exit codes: 0 success, 1 API error, 2 usage error, 3 transport error, 130 interrupted
]]

local COMMANDS = { "call", "ops", "help", "configure", "emulator", "watch", "completion", "version" }
M.COMMANDS = COMMANDS

-- Options every operation takes; the value says whether a value follows.
local OPTIONS = { all = false, parallel = true, body = true, file = true, output = true, format = true,
                  profile = true, help = false }
M.OPTIONS = OPTIONS

--- Splits words into options, flags (--name value / name=value) and positional words. An operation's
--- own parameter wins over an option of the same name (a few take `format`: --output-format then).
local function parse(words, pairs_allowed, op)
  local own = {}
  if op then for _, kw in ipairs(catalog.keywords(op)) do own[kw.name] = true end end
  local opts, flags, positional = {}, {}, {}
  local i = 1
  while i <= #words do
    local w = words[i]
    local name, inline = w:match("^%-%-([^=]+)=(.*)$")
    if not name then name = w:match("^%-%-(.+)$") end
    if w == "-h" then name = "help" end
    local takes -- false: an option without value; true: an option with one; nil: the operation's flag
    if name == "output-format" then name, takes = "format", true
    elseif name and not own[name] then takes = OPTIONS[name] end
    if name then
      local value = inline
      if takes == false then
        if inline then usage("--%s takes no value", name) end
        opts[name] = true
      else
        if value == nil then
          i = i + 1
          value = words[i]
          if value == nil then usage("--%s needs a value", name) end
        end
        if takes then
          if opts[name] ~= nil then usage("--%s given twice", name) end
          opts[name] = value
        else
          flags[#flags + 1] = { name = name, value = value, style = "flag" }
        end
      end
    elseif pairs_allowed and w:find("^[%w_%.%-]+=") then
      local k, v = w:match("^([^=]+)=(.*)$")
      if OPTIONS[k] ~= nil and not own[k] then usage("%s: use --%s", w, k) end
      flags[#flags + 1] = { name = k, value = v, style = "pair" }
    else
      positional[#positional + 1] = w
    end
    i = i + 1
  end
  if opts.format and opts.format ~= "json" and opts.format ~= "table" then
    usage("--format: json or table expected, got '%s'", opts.format)
  end
  if opts.parallel then
    local n = tonumber(opts.parallel)
    if not n or n ~= math.floor(n) or n < 1 or n > 64 then usage("--parallel: integer 1..64 expected, got '%s'",
      opts.parallel) end
    if not opts.all then usage("--parallel works with --all") end
    opts.parallel = n
  end
  if opts.all and opts.output then usage("--all and --output do not go together") end
  return opts, flags, positional
end
M.parse = parse

local function hint(typed, names)
  return suggest.words(suggest.nearest(typed, names))
end

--- The operation a command line names: (collection, operation) or an Operation ID alone.
local function find(words)
  local first, second = words[1], words[2]
  local cname = first and catalog.find_collection(first)
  if cname and second then
    local op = catalog.find_operation(cname, second)
    if op then return op, 2 end
    usage("unknown operation '%s' in %s%s; `falcon ops %s` lists them", second, catalog.kebab(cname),
      hint(second, catalog.typed_names(cname)), catalog.kebab(cname))
  end
  return nil
end

--- An operation named alone (help, call): Operation ID, or a name some collection gives it.
local function find_anywhere(typed)
  local endpoints = require "falcon.endpoints"
  local op = endpoints.get(typed)
  if op then return op end
  for _, cname in ipairs(catalog.collections()) do
    op = catalog.find_operation(cname, typed)
    if op then return op end
  end
  return nil
end
M.find_anywhere = find_anywhere

local function is_interrupt(e)
  return tostring(type(e) == "table" and (e.message or e) or e):find("interrupted!", 1, true) ~= nil
end

-- The run's API object and whether it fetched a token (revoked when the run ends).
local function connect(opts)
  local creds, from = profile.credentials(opts.profile)
  if not creds then usage("%s", from) end
  local falcon = require "falcon"
  local ok, obj = pcall(falcon.APIHarnessV2, creds)
  if not ok then usage("%s (credentials from %s)", tostring(obj), from) end
  return obj
end

local function write_json(value, stdout_tty)
  io.stdout:write(output.json(value, stdout_tty), "\n")
end

local function trace_id(body)
  return type(body) == "table" and type(body.meta) == "table" and body.meta.trace_id or nil
end

--- stderr lines for an error response; returns the exit code.
local function report(response, label)
  if response.transport_error then
    local t = response.transport_error
    io.stderr:write(string.format("falcon: %s: transport error (%s): %s\n", label, tostring(t.kind),
      tostring(t.message)))
    return M.EXIT.transport
  end
  local body = response.body
  local errors = type(body) == "table" and type(body.errors) == "table" and body.errors or {}
  local lines = {}
  for _, e in ipairs(errors) do
    if type(e) == "table" then lines[#lines + 1] = string.format("%s %s", output.json(e.code or "", false), tostring(e.message)) end
  end
  if #lines == 0 then lines[1] = "HTTP " .. tostring(response.status_code) end
  io.stderr:write(string.format("falcon: %s: API error %s: %s%s\n", label, tostring(response.status_code),
    table.concat(lines, "; "), trace_id(body) and (" (trace id " .. trace_id(body) .. ")") or ""))
  return M.EXIT.api
end

local function is_error(response)
  return response.transport_error ~= nil or (tonumber(response.status_code) or 500) >= 400
end

local function produces_bytes(op)
  return op.produces ~= nil and not op.produces:find("json", 1, true)
end

--- Pages through every result: NDJSON on stdout, the progress line on stderr.
local function run_all(ctx, obj, op, args)
  local paginate = require "falcon.paginate"
  local bar
  if ctx.stderr_tty then bar = require("falcon.cli.progress").new(io.stderr, tonumber(os.getenv("COLUMNS"))) end
  local rows = {}
  local on_page = bar and function(_, info) bar:update(info.count, info.page, info.total) end
  local ok, failure = pcall(function()
    for page in paginate.pages(obj, op, op.id, args, { parallel = ctx.opts.parallel, on_page = on_page }) do
      if is_error(page) then return page end
      local resources = type(page.body) == "table" and page.body.resources
      if type(resources) == "table" then
        for _, item in ipairs(resources) do
          if ctx.opts.format == "table" then rows[#rows + 1] = item
          else io.stdout:write(output.json(item, false), "\n") end
        end
      end
      io.stdout:flush()
    end
  end)
  if bar then bar:finish() end
  if not ok then error(failure, 0) end
  if failure then return report(failure, op.id) end
  if ctx.opts.format == "table" then io.stdout:write(output.table(rows), "\n") end
  return M.EXIT.ok
end

--- One call, and what it prints.
local function run_once(ctx, obj, op, args, uber_style)
  local service = require "falcon.service"
  local response
  if args.save_to then
    -- Built here to give the transfer a Lua progress function: Ctrl-C's hook fires inside it, which
    -- aborts the transfer (the engine then removes the .part file) instead of waiting for its end.
    local payload = require "falcon.payload"
    local request = payload.build(op, args, op.id)
    request.progress = function() end
    response = obj._client:request(request)
    local reason = response.transport_error and response.transport_error.message
    if reason and is_interrupt(reason) then error("interrupted!", 0) end
    response = service.shape(obj, response, args, op)
  elseif uber_style then
    response = obj:command(op.id, args)
  else
    response = service.call(obj, op, op.id, args)
  end
  if type(response) == "string" then -- bytes of a successful download
    io.stdout:write(response)
    return M.EXIT.ok
  end
  if is_error(response) then
    if response.body ~= nil and not response.transport_error then write_json(response.body, ctx.stdout_tty) end
    return report(response, op.id)
  end
  if response.saved_to then
    io.stderr:write(string.format("falcon: saved %d bytes to %s\n", response.saved_bytes or 0, response.saved_to))
    return M.EXIT.ok
  end
  local body = response.body
  if ctx.opts.format == "table" then
    local rows = type(body) == "table" and body.resources
    if type(rows) ~= "table" then usage("--format table: the answer has no resources list") end
    io.stdout:write(output.table(rows), "\n")
  else
    write_json(body, ctx.stdout_tty)
  end
  return M.EXIT.ok
end

--- An operation call: the service form (--param value) or the Uber form (key=value).
local function run_operation(ctx, op, rest, uber_style)
  local opts, flags, positional = parse(rest, uber_style, op)
  ctx.opts = opts
  if opts.help then io.stdout:write(require("falcon.cli.help").text(op)); return M.EXIT.ok end
  local args = args_mod.keywords(op, flags, positional)
  if opts.body then
    if args.body ~= nil then usage("--body given twice") end
    args.body = args_mod.json_value(opts.body, "--body")
  end
  if opts.file then args.file_path = opts.file end
  if opts.output then args.save_to = opts.output end
  if opts.all and produces_bytes(op) then usage("--all: %s returns bytes, not pages", op.id) end
  if produces_bytes(op) and not opts.output and ctx.stdout_tty then
    usage("%s returns bytes: give --output FILE, or redirect stdout", op.id)
  end
  -- Bad keywords raise here, before a token is asked for (each batch as the SDK will send it).
  local payload = require "falcon.payload"
  for _, part in ipairs(require("falcon.batch").split(op, args) or { args }) do payload.build(op, part, op.id) end
  local obj = connect(opts)
  ctx.obj = obj
  if opts.all then return run_all(ctx, obj, op, args) end
  return run_once(ctx, obj, op, args, uber_style)
end

local function run_ops(rest)
  local pattern = rest[1] and rest[1]:lower()
  local rows = {}
  for _, cname in ipairs(catalog.collections()) do
    for _, op in ipairs(catalog.operations(cname)) do
      local row = { catalog.kebab(cname), catalog.command_name(op), op.id, op.method .. " " .. op.route }
      local line = table.concat(row, " "):lower()
      if not pattern or line:find(pattern, 1, true) or line:gsub("[_%-]", ""):find(pattern:gsub("[_%-]", ""), 1, true)
      then rows[#rows + 1] = row end
    end
  end
  if #rows == 0 then
    io.stderr:write("falcon ops: nothing matches '", rest[1], "'\n")
    return M.EXIT.usage
  end
  local widths = { 0, 0, 0 }
  for _, row in ipairs(rows) do
    for c = 1, 3 do widths[c] = math.max(widths[c], #row[c]) end
  end
  for _, row in ipairs(rows) do
    io.stdout:write(string.format("%-" .. widths[1] .. "s  %-" .. widths[2] .. "s  %-" .. widths[3] .. "s  %s\n",
      row[1], row[2], row[3], row[4]))
  end
  return M.EXIT.ok
end

local function run_help(rest)
  local help = require "falcon.cli.help"
  if #rest == 0 then io.stdout:write(M.USAGE); return M.EXIT.ok end
  local op = find(rest)
  if not op and #rest == 1 then
    op = find_anywhere(rest[1])
    local cname = not op and catalog.find_collection(rest[1])
    if cname then io.stdout:write(help.collection_text(cname)); return M.EXIT.ok end
  end
  if not op then
    local endpoints = require "falcon.endpoints"
    local typed = rest[#rest]
    usage("unknown operation '%s'%s", typed, hint(typed, endpoints.operations))
  end
  io.stdout:write(help.text(op))
  return M.EXIT.ok
end

local function run_call(ctx, rest)
  local id = rest[1]
  if not id or id:sub(1, 1) == "-" then usage("falcon call: an Operation ID expected (falcon ops lists them)") end
  local op = require("falcon.endpoints").get(id)
  if not op then
    usage("unknown operation '%s'%s", id, suggest.words(require("falcon.uber").suggest(id)))
  end
  return run_operation(ctx, op, { unpack(rest, 2) }, true)
end

local function run_configure(rest)
  local opts, flags, positional = parse(rest, false)
  if #flags > 0 or #positional > 0 then
    usage("falcon configure takes only --profile NAME (a secret is never taken from the command line)")
  end
  local ok, err = profile.configure(opts.profile)
  if not ok then usage("falcon configure: %s", err) end
  return M.EXIT.ok
end

--- The dispatcher. `argv` is the script's `arg` table; returns the exit code.
function M.run(argv)
  local words, leading = {}, {}
  for i = 1, #argv do words[i] = argv[i] end
  -- Options may come first (falcon --profile prod hosts query-devices ...): they move to the end.
  while words[1] and OPTIONS[(words[1]:match("^%-%-([^=]+)") or "")] ~= nil and words[1] ~= "--help" do
    local name = words[1]:match("^%-%-([^=]+)")
    leading[#leading + 1] = table.remove(words, 1)
    if OPTIONS[name] and not leading[#leading]:find("=", 1, true) and words[1] then
      leading[#leading + 1] = table.remove(words, 1)
    end
  end
  for _, w in ipairs(leading) do words[#words + 1] = w end
  local ctx = { script = argv[0], stdout_tty = profile.is_terminal(1), stderr_tty = profile.is_terminal(2) }
  local command = words[1]
  local rest = { unpack(words, 2) }
  local ok, code = pcall(function()
    if command == nil or command == "--help" or command == "-h" then
      io.stdout:write(M.USAGE)
      return command and M.EXIT.ok or M.EXIT.usage
    elseif command == "version" or command == "--version" then
      io.stdout:write(require("falcon").version, "\n")
      return M.EXIT.ok
    elseif command == "ops" then return run_ops(rest)
    elseif command == "help" then return run_help(rest)
    elseif command == "call" then return run_call(ctx, rest)
    elseif command == "configure" then return run_configure(rest)
    elseif command == "emulator" then return require("falcon.cli.emulator").run(ctx, rest)
    elseif command == "watch" then return require("falcon.cli.watch").run(ctx, rest)
    elseif command == "completion" then return require("falcon.cli.complete").script(rest[1])
    elseif command == "__complete" then return require("falcon.cli.complete").candidates(rest)
    end
    local op, used = find(words)
    if not op then
      if catalog.find_collection(command) then
        usage("%s: an operation expected; `falcon ops %s` lists them", command, command)
      end
      local names = {}
      for _, c in ipairs(COMMANDS) do names[#names + 1] = c end
      for _, c in ipairs(catalog.typed_collections()) do names[#names + 1] = c end
      usage("unknown command or collection '%s'%s", command, hint(command, names))
    end
    return run_operation(ctx, op, { unpack(words, used + 1) })
  end)
  if ctx.obj then
    -- The token was fetched for this run alone: revoke it, whatever happened.
    pcall(function() if ctx.obj._client:token_valid() then ctx.obj:logout() end end)
  end
  if ok then return code end
  io.stdout:flush()
  if is_interrupt(code) then
    io.stderr:write("\nfalcon: interrupted\n")
    return M.EXIT.interrupted
  end
  if args_mod.is_usage(code) then
    io.stderr:write("falcon: ", code.message, "\n")
    return M.EXIT.usage
  end
  local APIError = require("falcon.errors").APIError
  if APIError.is(code) then
    io.stderr:write("falcon: ", tostring(code.message), code.trace_id and (" (trace id " .. code.trace_id .. ")") or "",
      "\n")
    return M.EXIT.api
  end
  -- Errors the SDK raises before sending (bad arguments) are usage errors too; they carry "falcon: " already.
  local message = tostring(code)
  io.stderr:write(message:find("^falcon: ") and "" or "falcon: ", message, "\n")
  return M.EXIT.usage
end

return M
