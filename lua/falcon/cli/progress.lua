--- The --all progress line on stderr: items, pages, rate and (when the API gives a total) a bar and
-- an ETA. Drawn in place with a carriage return and erased when paging ends, so the terminal is
-- left as it was; the caller only creates one when stderr is a terminal.
local now = require("falcon.core").now

local M = {}
M.__index = M

function M.new(stream, width)
  return setmetatable({ stream = stream, width = width or 80, started = now(), drawn = false }, M)
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

--- Redraws after a page.
function M:update(items, pages, total)
  local text = M.line(items, pages, total, now() - self.started, self.width)
  self.stream:write("\r\27[K", text:sub(1, self.width - 1))
  self.stream:flush()
  self.drawn = true
end

--- Erases the line.
function M:finish()
  if self.drawn then
    self.stream:write("\r\27[K")
    self.stream:flush()
    self.drawn = false
  end
end

return M
