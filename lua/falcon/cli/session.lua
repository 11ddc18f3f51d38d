--- One run of the `falcon` command, from start to exit: the one place every way it ends goes through.
--
-- A run ends by returning an exit code, by an error (a usage error, the SDK refusing an argument, a
-- failed write to stdout, a bug), by a signal (SIGINT, SIGTERM, SIGHUP: caught by core.terminal, which
-- stops transfers, sleeps and reads), or by its reader closing stdout (EPIPE: SIGPIPE is ignored). Each
-- of them goes through `finish`, which in this order: erases the progress line, puts the terminal's
-- echo back, checks that stdout took every byte, says what happened once on stderr, removes the
-- temporary files the run registered, revokes the token the run fetched, and exits with the code README
-- documents (after a signal or a closed stdout, by that signal, as cat does).
local terminal = require("falcon.core").terminal
local args_mod = require "falcon.cli.args"
local APIError = require("falcon.base.errors").APIError

local M = {}

M.EXIT = { ok = 0, api = 1, write = 1, usage = 2, transport = 3 }

local SIGNAL_NAMES = { [1] = "SIGHUP", [2] = "SIGINT", [13] = "SIGPIPE", [15] = "SIGTERM" }

--- An ending raised from anywhere in a run: kind "closed" (stdout's reader is gone) or "write".
local Ending = {}
Ending.__index = Ending
Ending.__tostring = function(e) return e.message or e.kind end

function M.ending(kind, message)
  error(setmetatable({ kind = kind, message = message }, Ending), 0)
end

local function is_ending(e) return getmetatable(e) == Ending end

--- Raises the ending a failed write to stdout means.
function M.write_failed(err, errno)
  if errno == terminal.EPIPE then M.ending("closed") end
  M.ending("write", "cannot write to stdout: " .. tostring(err))
end

--- Starts a run: signals caught from here on. Returns the run's context.
function M.start(argv)
  terminal.catch_signals()
  return {
    script = argv[0],
    stdin = terminal.kind(0), stdout = terminal.kind(1), stderr = terminal.kind(2),
    temporary = {}, -- paths removed at the end, whatever ends the run
  }
end

--- A temporary file the run must not leave behind (removed at the end unless `kept` is called).
function M.temporary(ctx, path)
  ctx.temporary[path] = true
  return function() ctx.temporary[path] = nil end
end

--- The SDK's own mistakes are "falcon: <where>: <what>": the user's words replace its argument names
--- (`names` maps an SDK keyword or option to the flag, variable or file the user gave it by).
function M.sdk_message(message, names)
  message = message:gsub("^falcon: ", "")
  for _, kind in ipairs { "argument", "option" } do
    message = message:gsub("bad " .. kind .. " '([%w_%.]+)'", function(name)
      local typed = names and names[name]
      if typed then return "bad value for " .. typed end
    end)
  end
  return message
end

-- What an error out of a run means: the message (nil: say nothing) and the exit code.
local function classify(ctx, err)
  if is_ending(err) then
    if err.kind == "closed" then return nil, "closed" end
    return err.message, M.EXIT.write
  end
  if args_mod.is_usage(err) then return err.message, M.EXIT.usage end
  if APIError.is(err) then
    return tostring(err.message) .. (err.trace_id and (" (trace id " .. err.trace_id .. ")") or ""), M.EXIT.api
  end
  local text = tostring(type(err) == "table" and (err.message or err) or err)
  -- Mistakes the SDK finds before sending (a bad argument or option) are usage errors too.
  if text:find("^falcon: ") then return M.sdk_message(text, ctx.typed), M.EXIT.usage end
  return "internal error: " .. text .. (ctx.debug and ctx.traceback and ("\n" .. ctx.traceback) or ""), M.EXIT.api
end

local function say(ctx, line)
  if ctx.line_open then io.stderr:write("\n") end -- a prompt's line (falcon configure)
  if ctx.screen then ctx.screen:message("falcon: " .. line) return end
  io.stderr:write("falcon: " .. line .. "\n")
end

-- The token this run fetched is revoked, whatever ended it (README: "revoked when the command ends").
local function revoke(ctx)
  local obj = ctx.obj
  if not obj then return end
  pcall(function() if obj._client:token_valid() then obj:logout() end end)
end

--- Ends a run: `ok, result` are what pcall gave for its body. Returns the exit code (or ends the
--- process by the signal that stopped it).
function M.finish(ctx, ok, result)
  local message, code
  if ok then code = result else message, code = classify(ctx, result) end
  if ctx.screen then
    ctx.screen:erase()
    -- Buffered bytes fail only when written out: a full disk is found here.
    if code ~= "closed" then
      local flushed, why = pcall(ctx.screen.flush, ctx.screen)
      if not flushed then message, code = classify(ctx, why) end
    end
  end
  terminal.echo_restore()
  local signal = terminal.caught()
  if signal then
    message = signal == 2 and "interrupted" or ("stopped by " .. SIGNAL_NAMES[signal])
    code = 128 + signal
    -- the terminal echoed ^C where the cursor was: the message goes on a line of its own
    if signal == 2 and ctx.stderr == "terminal" then ctx.line_open = true end
  end
  if message then say(ctx, message) end
  for path in pairs(ctx.temporary) do os.remove(path) end
  revoke(ctx)
  if signal then terminal.die(signal) end
  if code == "closed" then
    terminal.die(terminal.SIGPIPE)
    code = 128 + terminal.SIGPIPE
  end
  return code
end

--- Runs `body(ctx)` as one run of the command; returns the exit code.
function M.run(argv, body)
  local ctx = M.start(argv)
  local ok, result = xpcall(function() return body(ctx) end, function(e)
    if type(e) ~= "table" and not tostring(e):find("^falcon: ") then ctx.traceback = debug.traceback() end
    return e
  end)
  return M.finish(ctx, ok, result)
end

return M
