--- The `falcon` command (bin/falcon): every Falcon API operation from the shell.
--
--   falcon <collection> <operation> [--param value ...] [positional ids]
--   falcon call <OperationId> [key=value ...]        the Uber form
--   falcon ops [pattern] | help <operation> | configure [--profile NAME]
--   falcon emulator start|stop|env | completion bash|zsh
--
-- A run starts and ends in falcon.cli.session (signals, cleanup, exit codes); its bytes go through
-- falcon.cli.screen; its options are falcon.cli.options'; its settings falcon.cli.profile's.
local falcon = require "falcon"
local args_mod = require "falcon.cli.args"
local catalog = require "falcon.cli.catalog"
local debug_lines = require "falcon.cli.debug"
local help = require "falcon.cli.help"
local options = require "falcon.cli.options"
local output = require "falcon.cli.output"
local profile = require "falcon.cli.profile"
local screen_mod = require "falcon.cli.screen"
local session = require "falcon.cli.session"
local endpoints = require "falcon.endpoints"
local json = require "falcon.json"
local suggest = require "falcon.base.suggest"
local untrusted = require "falcon.base.untrusted"
local terminal = require("falcon.core").terminal

-- Required inside the commands that use them, not above, so that `falcon --help` and shell completion start
-- without them: the SDK's call path (falcon.call, falcon.call.paginate, falcon.call.batch, falcon.payload,
-- falcon.classes.uber) and the emulator, watch and completion commands (the last two require this module).
local usage = args_mod.usage
local unpack = table.unpack or unpack -- luacheck: ignore 143

local M = {}

M.EXIT = session.EXIT
M.OPTIONS = options.OPTIONS

M.USAGE = [[
usage: falcon <collection> <operation> [--parameter value ...] [options]
       falcon call <OperationId> [key=value ...] [options]
       falcon ops [pattern]              list operations (collection, name, Operation ID, route)
       falcon help [<collection>] <operation>   what it does, its parameters, limits, paging, examples
       falcon configure [--profile NAME] store credentials in a profile (mode 0600)
       falcon emulator start|stop|env    a local Falcon API emulator to try everything offline
       falcon watch [--filter FQL] ...   Message Center changes as they happen, as NDJSON
       falcon completion bash|zsh        a completion script: source <(falcon completion bash)

options:
  --all                 page through every result; one JSON item per line (NDJSON)
  --parallel N          with --all: fetch N pages at once where the paging style allows (offset)
  --body @FILE|JSON     the whole request body
  --file PATH           the file to upload (streamed)
  --output-file PATH    write the answer (a download) to PATH, streamed; nothing is left on failure
  --output FORMAT       json, table, csv or text (as the aws CLI's --output); --format is the same
  --fields a,b.c        only these fields of each resource (the table's columns, in this order)
  --profile NAME        credentials from a profile of `falcon configure`
  --base-url URL|CLOUD  the API (us-1, us-2, eu-1, us-gov-1, us-gov-2 or a URL); --region is the same
  --member-cid CID      act on a child tenant (MSSP)
  --debug               every request and answer on stderr, secrets redacted (or FALCON_DEBUG=1)

conventions:
  stdout          data only: the answer of a 2xx (and the resources an error answer still carries);
                  json is indented on a terminal, one line when piped; --all: a line per item
  stderr          messages, the --debug log, the --all progress line (never on a line with data)
  settings        a flag, else the environment, else the profile: --profile > FALCON_CLIENT_ID and
                  FALCON_CLIENT_SECRET > FALCON_PROFILE or [default]; --base-url > FALCON_BASE_URL >
                  base_url; --member-cid > FALCON_MEMBER_CID > member_cid
  exit codes      0 success, 1 API error (any answer but a 2xx) or a failed write to stdout, 2 usage
                  error (nothing sent), 3 transport error; after Ctrl-C, SIGTERM or SIGHUP, 130, 143 or
                  129, and 141 when stdout's reader went away (quietly, as cat): the token is revoked
                  and nothing is left behind whatever ends the command
  completion      source <(falcon completion bash)   (or zsh)
]]

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
  local op = endpoints.get(typed)
  if op then return op end
  for _, cname in ipairs(catalog.collections()) do
    op = catalog.find_operation(cname, typed)
    if op then return op end
  end
  return nil
end
M.find_anywhere = find_anywhere

local function debug_wanted(opts)
  if opts.debug then return true end
  local v = (os.getenv("FALCON_DEBUG") or ""):lower()
  return v ~= "" and v ~= "0" and v ~= "false" and v ~= "no" and v ~= "off"
end

-- Every API request of the run: stopped as soon as a signal was caught (a progress function that says
-- stop: the engine ends the transfer, and a download's temporary file with it), and shown with --debug.
local function watch(ctx, client)
  local function stop_on_signal() if terminal.caught() then return false end end
  local function show(lines) for _, l in ipairs(lines) do ctx.screen:message("falcon debug: " .. l) end end
  local send = client.request
  client.request = function(self, req)
    req.progress = req.progress or stop_on_signal
    if ctx.debug then show(debug_lines.request_lines(self, req)) end
    local response = send(self, req)
    if ctx.debug then show(debug_lines.response_lines(response)) end
    -- The transfer ended because of a signal: falcon.cli.session says so, not as a transport error.
    if terminal.caught() then error("falcon: stopped by a signal", 0) end
    return response
  end
end

--- The run's API object, from the settings `opts` name (profile, base-url, member-cid, as
--- falcon.cli.options gives them): its token is revoked when the run ends (falcon.cli.session), its
--- requests stop at a signal and show with --debug. Every command that calls the API connects here.
local function connect(ctx, opts)
  opts._typed = opts._typed or {}
  local creds, names = profile.settings(opts)
  if ctx.debug then creds.debug = function(line) ctx.screen:message("falcon debug: " .. line) end end
  local ok, obj = pcall(falcon.APIHarnessV2, creds)
  if not ok then usage("%s", session.sdk_message(tostring(obj), names)) end
  ctx.obj = obj
  watch(ctx, obj._client)
  return obj
end

M.connect = connect

local function is_success(response)
  local status = tonumber(response.status_code)
  return response.transport_error == nil and status ~= nil and status >= 200 and status < 300
end

local function resources_of(body)
  local list = type(body) == "table" and body.resources
  if type(list) == "table" and list ~= json.null then return list end
  return nil
end

--- One stderr line for an answer that is not a success; returns the exit code.
local function report(ctx, response, op)
  if response.transport_error then
    local t = response.transport_error
    ctx.screen:message(string.format("falcon: %s: transport error (%s): %s", op.id, tostring(t.kind),
      tostring(t.message)))
    return M.EXIT.transport
  end
  local body = response.body
  local errors = type(body) == "table" and type(body.errors) == "table" and body.errors or {}
  local parts = {}
  for _, e in ipairs(errors) do
    if type(e) == "table" then
      parts[#parts + 1] = string.format("%s %s%s", tostring(e.code or ""), tostring(e.message),
        type(e.id) == "string" and (" (" .. e.id .. ")") or "")
    end
  end
  local headers = response.headers or {}
  if #parts == 0 then
    local location = headers["Location"]
    parts[1] = location and ("a redirect to " .. tostring(location) .. ", not followed") or "no error message"
  end
  local trace = type(body) == "table" and type(body.meta) == "table" and body.meta.trace_id or headers["X-Cs-Traceid"]
  ctx.screen:message(string.format("falcon: %s: API error %s: %s%s", op.id, tostring(response.status_code),
    untrusted.printable(table.concat(parts, "; ")),
    trace and (" (trace id " .. tostring(trace) .. ")") or ""))
  return M.EXIT.api
end

-- Resources as the chosen format's text (not json). `columns`: fixed by an earlier page (--all).
local function rows_text(ctx, rows, format, columns, first)
  local fields = ctx.opts.fields
  if fields and output.is_plain(rows) then usage("--fields: the resources are plain values (ids), not objects") end
  columns = columns or output.columns(rows, fields)
  if format == "csv" then return output.csv(rows, columns, first ~= false), columns end
  if format == "text" then return output.text(rows, columns), columns end
  local width = ctx.stdout == "terminal" and
    (terminal.columns(1) or tonumber(os.getenv("COLUMNS")) or 80) or nil
  local text, hidden = output.table(rows, columns, width)
  if hidden > 0 then ctx.hidden_columns = hidden end -- said after the table
  return text, columns
end

local function say_hidden_columns(ctx)
  if ctx.hidden_columns then
    ctx.screen:flush()
    ctx.screen:message(string.format("falcon: %d columns left out to fit the terminal; --fields picks them",
      ctx.hidden_columns))
  end
end

-- A whole answer's body in the chosen format.
local function write_body(ctx, body)
  local format, fields = ctx.opts.format or "json", ctx.opts.fields
  local rows = resources_of(body)
  if format == "json" then
    if fields and rows then
      if output.is_plain(rows) then usage("--fields: the resources are plain values (ids), not objects") end
      local copy = {}
      for k, v in pairs(body) do copy[k] = v end
      copy.resources = output.project(rows, fields)
      body = copy
    end
    ctx.screen:data(output.json(body, ctx.stdout == "terminal") .. "\n")
    return
  end
  if not rows then usage("--output %s: the answer has no resources list; use --output json", format) end
  ctx.screen:data((rows_text(ctx, rows, format)))
  say_hidden_columns(ctx)
end

--- Pages through every result: an item per line on stdout (or rows), the progress line on stderr.
local function run_all(ctx, obj, op, args)
  local opts, screen = ctx.opts, ctx.screen
  local format = opts.format or "json"
  local gathered, columns, progress = {}, nil, nil
  local function on_page(_, info) progress = info end
  screen:start_progress()
  for page in require("falcon.call.paginate").pages(obj, op, op.id, args, { parallel = opts.parallel, on_page = on_page }) do
    if not is_success(page) then return report(ctx, page, op) end
    local rows = resources_of(page.body) or {}
    if format == "json" then
      if opts.fields and #rows > 0 then
        if output.is_plain(rows) then usage("--fields: the resources are plain values (ids), not objects") end
        rows = output.project(rows, opts.fields)
      end
      for _, item in ipairs(rows) do screen:data(output.json(item, false) .. "\n") end
    elseif format == "table" then
      for _, item in ipairs(rows) do gathered[#gathered + 1] = item end
    elseif #rows > 0 then -- csv and text stream, in the columns of the first page (or --fields)
      local text
      text, columns = rows_text(ctx, rows, format, columns, columns == nil)
      screen:data(text)
    end
    -- drawn after the page's data: it shows while the next page is awaited
    if progress then screen:progress(progress.count, progress.page, progress.total) else screen:flush() end
  end
  if format == "table" then
    screen:data((rows_text(ctx, gathered, "table")))
    say_hidden_columns(ctx)
  end
  return M.EXIT.ok
end

--- One call, and what it prints.
local function run_once(ctx, obj, op, args)
  local response = require("falcon.call").send(obj, op, op.id, args)
  local ok = is_success(response)
  -- An error answer that still carries resources (a lookup where some ids were found) is data too.
  if not ok and not (resources_of(response.body) and #resources_of(response.body) > 0) then
    return report(ctx, response, op)
  end
  if response.saved_to then
    ctx.screen:message(string.format("falcon: saved %d bytes to %s", response.saved_bytes or 0, response.saved_to))
  elseif type(response.body) == "string" then
    ctx.screen:data(response.body) -- bytes of a download
  else
    write_body(ctx, response.body)
  end
  if not ok then return report(ctx, response, op) end
  return M.EXIT.ok
end

local function produces_bytes(op)
  return op.produces ~= nil and not op.produces:find("json", 1, true)
end

-- The keyword arguments of a call from its words; anything wrong is a usage error before a token is asked for.
local function call_arguments(ctx, op, flags, positional)
  local opts = ctx.opts
  local args, typed = args_mod.keywords(op, flags, positional)
  typed.file_path, typed.file_name, typed.save_to, typed.body = "--file", "--file", "--output-file", "--body"
  ctx.typed = typed
  if opts.body then
    if args.body ~= nil then usage("--body given twice") end
    args.body = args_mod.json_value(opts.body, "--body")
  end
  if opts.file then
    local f, err = io.open(opts.file, "rb")
    if not f then usage("--file: cannot read %s", err) end
    f:close()
    args.file_path = opts.file
  end
  if opts["output-file"] then args.save_to = opts["output-file"] end
  if opts.all and produces_bytes(op) then usage("--all: %s returns bytes, not pages", op.id) end
  if produces_bytes(op) and not opts["output-file"] and ctx.stdout == "terminal" then
    usage("%s returns bytes: give --output-file FILE, or redirect stdout", op.id)
  end
  -- Bad keywords raise here (each batch as the SDK will send it).
  local payload = require "falcon.payload"
  for _, part in ipairs(require("falcon.call.batch").split(op, args) or { args }) do payload.build(op, part, op.id) end
  return args
end

--- An operation call: the service form (--param value) or the Uber form (key=value).
local function run_operation(ctx, op, rest, uber_style)
  local own = {}
  for _, kw in ipairs(catalog.keywords(op)) do own[kw.name] = true end
  local opts, flags, positional = options.parse(rest, uber_style, own, ctx.opts)
  options.check(opts)
  ctx.debug = debug_wanted(opts)
  if opts.help then ctx.screen:data(help.text(op)); return M.EXIT.ok end
  local args = call_arguments(ctx, op, flags, positional)
  local obj = connect(ctx, opts)
  if opts.all then return run_all(ctx, obj, op, args) end
  return run_once(ctx, obj, op, args)
end

local function run_ops(ctx, rest)
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
  if #rows == 0 then usage("falcon ops: nothing matches '%s'", rest[1]) end
  local widths = { 0, 0, 0 }
  for _, row in ipairs(rows) do
    for c = 1, 3 do widths[c] = math.max(widths[c], #row[c]) end
  end
  local format = "%-" .. widths[1] .. "s  %-" .. widths[2] .. "s  %-" .. widths[3] .. "s  %s\n"
  for _, row in ipairs(rows) do ctx.screen:data(string.format(format, unpack(row))) end
  return M.EXIT.ok
end

local function run_help(ctx, rest)
  if #rest == 0 then ctx.screen:data(M.USAGE); return M.EXIT.ok end
  local op = find(rest)
  if not op and #rest == 1 then
    op = find_anywhere(rest[1])
    local cname = not op and catalog.find_collection(rest[1])
    if cname then ctx.screen:data(help.collection_text(cname)); return M.EXIT.ok end
  end
  if not op then
    local typed = rest[#rest]
    usage("unknown operation '%s'%s", typed, hint(typed, endpoints.operations))
  end
  ctx.screen:data(help.text(op))
  return M.EXIT.ok
end

local function run_call(ctx, rest)
  local id = rest[1]
  if not id or id:sub(1, 1) == "-" then usage("falcon call: an Operation ID expected (falcon ops lists them)") end
  local op = endpoints.get(id)
  if not op then
    usage("unknown operation '%s'%s", id, suggest.words(require("falcon.classes.uber").suggest(id)))
  end
  return run_operation(ctx, op, { unpack(rest, 2) }, true)
end

local function run_configure(ctx, rest)
  local opts, flags, positional = options.parse(rest, false, {}, ctx.opts)
  if #flags > 0 or #positional > 0 then
    usage("falcon configure takes only --profile NAME (a secret is never taken from the command line)")
  end
  local ok, err = profile.configure(ctx, opts.profile)
  if not ok then usage("falcon configure: %s", err) end
  return M.EXIT.ok
end

local function run_version(ctx)
  ctx.screen:data(falcon.version .. "\n")
  return M.EXIT.ok
end

--- The commands besides operations: name -> function(ctx, words after it) returning the exit code.
--- A new command is one line here, its code in a file of its own.
M.COMMANDS = {
  call = run_call,
  ops = run_ops,
  help = run_help,
  configure = run_configure,
  emulator = function(ctx, rest) return require("falcon.cli.emulator").run(ctx, rest) end,
  watch = function(ctx, rest) return require("falcon.cli.watch").run(ctx, rest) end,
  completion = function(ctx, rest) return require("falcon.cli.complete").script(ctx, rest[1]) end,
  version = run_version,
  __complete = function(ctx, rest) return require("falcon.cli.complete").candidates(ctx, rest) end,
}

--- The command names a user types (for hints and completion), sorted.
function M.command_names()
  local names = {}
  for name in pairs(M.COMMANDS) do
    if not name:find("^_") then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

local function dispatch(ctx, argv)
  local words = {}
  for i = 1, #argv do words[i] = argv[i] end
  ctx.screen = screen_mod.new(ctx)
  -- Options before the command are the command's (falcon --profile prod hosts query-devices ...).
  ctx.opts, words = options.leading(words)
  ctx.debug = debug_wanted(ctx.opts)
  local command = words[1]
  if command == nil or command == "--help" or command == "-h" or ctx.opts.help then
    ctx.screen:data(M.USAGE)
    return (command or ctx.opts.help) and M.EXIT.ok or M.EXIT.usage
  end
  if command == "--version" then command = "version" end
  if command:find("^%-") then
    usage("%s: only the command's own options go before the command (falcon --help lists them); an operation's "
      .. "parameters go after it", command)
  end
  local rest = { unpack(words, 2) }
  local run = M.COMMANDS[command]
  if run then return run(ctx, rest) end
  local op, used = find(words)
  if not op then
    if catalog.find_collection(command) then
      usage("%s: an operation expected; `falcon ops %s` lists them", command, command)
    end
    local names = M.command_names()
    for _, c in ipairs(catalog.typed_collections()) do names[#names + 1] = c end
    usage("unknown command or collection '%s'%s", command, hint(command, names))
  end
  return run_operation(ctx, op, { unpack(words, used + 1) })
end

--- The dispatcher. `argv` is the script's `arg` table; returns the exit code.
function M.run(argv)
  return session.run(argv, function(ctx) return dispatch(ctx, argv) end)
end

return M
