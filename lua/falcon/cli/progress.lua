--- The --all progress line on stderr: items, pages, rate and (when the API gives a total) a bar and
-- an ETA. It never shares a line with data (falcon.cli.screen draws it):
--   "inplace": drawn over itself with a carriage return, erased before any data reaches stdout and when
--              paging ends (stdout is the terminal, a file or a device: the command writes all of it);
--   "lines":   stdout is a pipe, whose reader may print on this same terminal at any moment: a line is
--              never left open, so each report is a whole line, at most one every `every` seconds.
local now = require("falcon.core").now

local M = {}
M.__index = M

--- A progress reporter on `stream` (stderr) in `mode`, for a terminal `width` columns wide.
function M.new(stream, mode, width, every)
  return setmetatable({ stream = stream, mode = mode, width = width or 80, every = every or 5, started = now(),
                        drawn = false, last = now() }, M)
end

local function duration(seconds)
  seconds = math.floor(seconds + 0.5)
  if seconds >= 3600 then return string.format("%dh%02dm", math.floor(seconds / 3600), math.floor(seconds % 3600 / 60)) end
  return string.format("%d:%02d", math.floor(seconds / 60), seconds % 60)
end

--- The line for a state: items so far, pages so far, total items (or nil), seconds elapsed.
function M.line(items, pages, total, elapsed, width)
  local rate = elapsed > 0 and items / elapsed or 0
  local tail = string.format(" %d items, %d pages, %.0f/s", items, pages, rate)
  if not total or total <= 0 then return "paging:" .. tail end
  local fraction = math.min(items / total, 1)
  local eta = rate > 0 and duration((total - items) / rate) or "?"
  tail = string.format(" %d/%d items, %d pages, %.0f/s, ETA %s", items, total, pages, rate, eta)
  local bar = math.max(10, math.min(40, width - #tail - 8))
  local filled = math.floor(fraction * bar + 0.5)
  return string.format("[%s%s] %3d%%%s", string.rep("#", filled), string.rep("-", bar - filled),
    math.floor(fraction * 100), tail)
end

--- Reports after a page.
function M:update(items, pages, total)
  local t = now()
  local text = M.line(items, pages, total, t - self.started, self.width)
  if self.mode == "lines" then
    if t - self.last < self.every then return end
    self.last = t
    self.stream:write("falcon: " .. text .. "\n") -- one write: a reader's line cannot land inside it
  else
    self.stream:write("\r\27[K" .. text:sub(1, self.width - 1))
    self.drawn = true
  end
  self.stream:flush()
end

--- Erases the line (before data or a message takes the terminal, and at the end).
function M:clear()
  if self.drawn then
    self.stream:write("\r\27[K")
    self.stream:flush()
    self.drawn = false
  end
end

return M
