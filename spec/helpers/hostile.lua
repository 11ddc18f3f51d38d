-- Test helper: the scripted hostile HTTP/1.1 server of spec/helpers/hostile_server.c (built by `make build`
-- into build/spec/hostile_server; its top comment lists the actions), started in its own process group and
-- always stopped with it. It also ends by itself once the test process is gone.
--   local s = hostile.start{ "ok", "drop", "status 503" }   -- one plan line per request, then `ok` for ever
--   s.url, s.port, s.dir, s:applied() -> { {method=, path=, connection=}, ... }, s:plan{ ... }, s:file(name, bytes), s:stop()
local emulator = require "spec.helpers.emulator"
local spawn = require "spec.helpers.spawn"

local M = {}
local read_file = emulator.read_file

local Server = {}
Server.__index = Server

local function append(path, data)
  local f = assert(io.open(path, "ab"))
  assert(f:write(data))
  f:close()
end

-- Plan lines as one string; each must be a string without a newline (a line is one request's action).
local function plan_text(lines, caller)
  if type(lines) ~= "table" then
    error("bad argument #1 to '" .. caller .. "' (table of plan lines expected, got " .. type(lines) .. ")", 3)
  end
  local text = {}
  for i, line in ipairs(lines) do
    if type(line) ~= "string" or line:find("\n", 1, true) then
      error("bad argument #1 to '" .. caller .. "' (plan line " .. i .. " must be a string without a newline)", 3)
    end
    text[i] = line .. "\n"
  end
  return table.concat(text)
end

function M.start(lines)
  local plan = plan_text(lines or {}, "start")
  local dir = spawn.folder("hostile")
  append(dir .. "/plan", plan)
  local started = spawn.start("hostile_server", dir, { dir }, 2)
  return setmetatable({ dir = dir, started = started, url = started.url, port = started.port }, Server)
end

--- Appends plan lines: the requests after those already planned take them.
function Server:plan(lines)
  append(self.dir .. "/plan", plan_text(lines, "plan"))
end

--- Writes DIR/name, for the `bytes name` action.
function Server:file(name, bytes)
  local f = assert(io.open(self.dir .. "/" .. name, "wb"))
  assert(f:write(bytes))
  f:close()
end

--- Every request the server applied, in order: { method =, path =, connection = (numbered from 1) }.
function Server:applied()
  local applied = {}
  for method, path, connection in (read_file(self.dir .. "/applied.log") or ""):gmatch("(%S+) (%S+) (%d+)\n") do
    applied[#applied + 1] = { method = method, path = path, connection = tonumber(connection) }
  end
  return applied
end

--- Stops the server (safe to call twice).
function Server:stop()
  spawn.stop(self.started, self.dir)
  self.dir = nil
end

return M
