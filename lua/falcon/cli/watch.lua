--- `falcon watch`: Message Center changes as they happen, one JSON object per line (NDJSON), from a
-- falcon.CaseWatch (uber:watch_cases). A change is acknowledged once its line is written and flushed, so
-- with --checkpoint a run started again goes on after the last line printed.
--   falcon watch [--filter FQL] [--interval S] [--checkpoint FILE] [--since now|all|TIME]
--                [--idle-timeout S] [--deadline S] [--sweep S|off] [--profile NAME]
local args = require "falcon.cli.args"
local output = require "falcon.cli.output"
local profile = require "falcon.cli.profile"

local M = {}

local usage = args.usage

M.USAGE = [[
usage: falcon watch [--filter FQL] [--interval S] [--checkpoint FILE] [--since now|all|TIME]
                    [--idle-timeout S] [--deadline S] [--sweep S|off] [--profile NAME]
prints each Message Center change once, one JSON object per line: case_created, case_seen,
case_updated, activity_added, activity_edited, attachment_added (kind, case_id, at, case, ...)
]]

-- flag -> {option of the watch, how its value is read}
local FLAGS = {
  filter = { "filter", "text" }, interval = { "interval", "seconds" }, checkpoint = { "checkpoint", "text" },
  since = { "since", "text" }, ["idle-timeout"] = { "idle_timeout", "seconds" },
  deadline = { "deadline", "seconds" }, sweep = { "sweep", "sweep" }, profile = { "profile", "text" },
}

local function value_of(flag, kind, text)
  if kind == "text" then return text end
  if kind == "sweep" and text == "off" then return false end
  local n = tonumber(text)
  if not n or n < 0 or n ~= n or n == math.huge then usage("--%s: seconds expected, got '%s'", flag, text) end
  return n
end

local function parse(words)
  local opts, i = {}, 1
  while i <= #words do
    local w = words[i]
    local flag, inline = w:match("^%-%-([%w-]+)=(.*)$")
    flag = flag or w:match("^%-%-([%w-]+)$")
    if w == "--help" or w == "-h" then return nil end
    local spec = flag and FLAGS[flag]
    if not spec then usage("falcon watch: unknown argument '%s'\n%s", w, M.USAGE) end
    local text = inline
    if text == nil then
      i = i + 1
      text = words[i]
      if text == nil then usage("--%s needs a value", flag) end
    end
    if opts[spec[1]] ~= nil then usage("--%s given twice", flag) end
    opts[spec[1]] = value_of(flag, spec[2], text)
    i = i + 1
  end
  return opts
end

--- Runs `falcon watch ...`; returns the exit code (0 when the idle timeout or the deadline ended it).
function M.run(ctx, words)
  local opts = parse(words)
  if not opts then io.stdout:write(M.USAGE) return 0 end
  local creds, from = profile.credentials(opts.profile)
  if not creds then usage("%s", from) end
  opts.profile = nil
  local ok, uber = pcall(require("falcon").APIHarnessV2, creds)
  if not ok then usage("%s (credentials from %s)", tostring(uber), from) end
  ctx.obj = uber -- the run's token is revoked when it ends
  local watch = uber:watch_cases(opts) -- bad options raise here, before anything is sent
  watch:run(function(change)
    io.stdout:write(output.json(change, false), "\n")
    io.stdout:flush()
  end)
  return 0
end

return M
