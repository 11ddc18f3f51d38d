--- Where the command's bytes go: data on stdout (every write checked: a full disk is an error, a
-- reader that went away a quiet end), messages and the progress line on stderr. The progress line is
-- erased before a message, and before data when stdout is a terminal, and drawn only after stdout was
-- flushed, so the two never share a line, whether stdout and stderr are one terminal, two, files or
-- pipes (falcon.cli.progress: a line at a time when stdout is a pipe).
local session = require "falcon.cli.session"
local progress = require "falcon.cli.progress"
local terminal = require("falcon.core").terminal

local M = {}
M.__index = M

function M.new(ctx)
  return setmetatable({ ctx = ctx, bar = nil }, M)
end

--- Bytes of data on stdout.
function M:data(text)
  if self.bar and self.ctx.stdout == "terminal" then self.bar:clear() end
  local ok, err, errno = io.stdout:write(text)
  if not ok then session.write_failed(err, errno) end
end

function M.flush()
  local ok, err, errno = io.stdout:flush()
  if not ok then session.write_failed(err, errno) end
end

--- One line on stderr (a message, never data).
function M:message(line)
  if self.bar then self.bar:clear() end
  io.stderr:write(line .. "\n") -- one write: another writer's line cannot land inside it
  io.stderr:flush()
end

--- Prepares the --all progress line, before any data is written: drawn when stderr is a terminal
--- (falcon.cli.progress says how, by what stdout is).
function M:start_progress()
  local ctx = self.ctx
  if ctx.stderr ~= "terminal" then return end
  local width = terminal.columns(2) or tonumber(os.getenv("COLUMNS")) or 80
  local mode = ctx.stdout == "pipe" and "lines" or "inplace"
  -- A pipe's reader (cat, jq) may print on this terminal: it must get whole lines, each in one write
  -- (atomic up to PIPE_BUF), or a progress line could land after half of one.
  if mode == "lines" then io.stdout:setvbuf("line") end
  self.bar = progress.new(io.stderr, mode, width)
end

--- Reports progress (after a page's data).
function M:progress(items, pages, total)
  self:flush() -- the data before the line is out: nothing written earlier can land after it
  if self.bar then self.bar:update(items, pages, total) end
end

--- Erases the progress line (the run is ending).
function M:erase()
  if self.bar then self.bar:clear() end
end

return M
