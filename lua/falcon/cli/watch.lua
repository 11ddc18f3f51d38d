--- `falcon watch`: Message Center changes as they happen, one JSON object per line (NDJSON), from a
-- falcon.CaseWatch (uber:watch_cases). A change is acknowledged once its line is written and flushed, so
-- with --checkpoint a run started again goes on after the last line printed.
--   falcon watch [--filter FQL] [--interval S] [--checkpoint FILE] [--since now|all|TIME]
--                [--idle-timeout S] [--deadline S] [--sweep S|off] [--profile NAME]
-- The connection's settings (--profile, --base-url/--region, --member-cid, --debug) go before or after
-- `watch`, as for an operation; falcon.cli's connect() reads them with the one precedence.
local args = require "falcon.cli.args"
local output = require "falcon.cli.output"

local M = {}

local usage = args.usage

M.USAGE = [[
usage: falcon watch [--filter FQL] [--interval S] [--checkpoint FILE] [--since now|all|TIME]
                    [--idle-timeout S] [--deadline S] [--sweep S|off]
                    [--profile NAME] [--base-url URL|--region NAME] [--member-cid CID]
prints each Message Center change once, one JSON object per line: case_created, case_seen,
case_updated, activity_added, activity_edited, attachment_added (kind, case_id, at, case, ...)
]]

-- flag -> {option of the watch, how its value is read}
local FLAGS = {
  filter = { "filter", "text" }, interval = { "interval", "seconds" }, checkpoint = { "checkpoint", "text" },
  since = { "since", "text" }, ["idle-timeout"] = { "idle_timeout", "seconds" },
  deadline = { "deadline", "seconds" }, sweep = { "sweep", "sweep" },
}
-- The connection's settings, read by connect() as falcon.cli.options records them.
local CONNECTION = { profile = "profile", ["base-url"] = "base-url", region = "base-url", ["member-cid"] = "member-cid" }

local function value_of(flag, kind, text)
  if kind == "text" then return text end
  if kind == "sweep" and text == "off" then return false end
  local n = tonumber(text)
  if not n or n < 0 or n ~= n or n == math.huge then usage("--%s: seconds expected, got '%s'", flag, text) end
  return n
end

-- (the watch's options, the connection's settings), or nil for --help. `settings` starts from the
-- options given before the command.
local function parse(words, settings)
  local opts, i = {}, 1
  while i <= #words do
    local w = words[i]
    local flag, inline = w:match("^%-%-([%w-]+)=(.*)$")
    flag = flag or w:match("^%-%-([%w-]+)$")
    if w == "--help" or w == "-h" then return nil end
    if flag == "debug" and inline == nil then
      settings.debug = true
    else
      local spec, key = flag and FLAGS[flag], flag and CONNECTION[flag]
      if not spec and not key then usage("falcon watch: unknown argument '%s'\n%s", w, M.USAGE) end
      local text = inline
      if text == nil then
        i = i + 1
        text = words[i]
        if text == nil then usage("--%s needs a value", flag) end
      end
      local into, name = opts, spec and spec[1] or key
      if key then into = settings end
      if into[name] ~= nil then usage("--%s given twice", flag) end
      if spec then
        into[name] = value_of(flag, spec[2], text)
      else
        into[name], settings._typed[key] = text, flag
      end
    end
    i = i + 1
  end
  return opts, settings
end

--- Runs `falcon watch ...`; returns the exit code (0 when the idle timeout or the deadline ended it).
function M.run(ctx, words)
  local settings = { _typed = {} }
  for k, v in pairs(ctx.opts) do settings[k] = v end
  for k, v in pairs(ctx.opts._typed) do settings._typed[k] = v end
  local opts = parse(words, settings)
  if not opts then ctx.screen:data(M.USAGE) return 0 end
  if settings.debug then ctx.debug = true end
  -- connect(): one precedence for the settings, the token revoked when the run ends, --debug, signals
  local uber = require("falcon.cli").connect(ctx, settings) -- not above: falcon.cli requires this module
  local watch = uber:watch_cases(opts) -- bad options raise here, before anything is sent
  watch:run(function(change)
    ctx.screen:data(output.json(change, false) .. "\n")
    ctx.screen.flush() -- a change is acknowledged once its line is out
  end)
  return 0
end

return M
