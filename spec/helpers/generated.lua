-- Test helper: whether committed generated files are what their generator writes now.
local emulator = require "spec.helpers.emulator"

local M = {}

--- Runs `lua5.4 TOOL DIR` into a fresh folder and compares it with `committed` (a folder).
--- Returns "" when they are the same, else the generator's failure or the start of the diff.
function M.diff(tool, committed)
  local quote, run = emulator.quote, emulator.run
  local dir = os.tmpname()
  os.remove(dir)
  local out, code = run("lua5.4 " .. tool .. " " .. quote(dir) .. " 2>&1")
  if code ~= 0 then return out end
  local diff = run("diff -r " .. quote(dir) .. " " .. quote(committed) .. " 2>&1 | head -20")
  run("rm -rf " .. quote(dir))
  if diff ~= "" then return committed .. " is stale: run `lua5.4 " .. tool .. "`\n" .. diff end
  return ""
end

return M
