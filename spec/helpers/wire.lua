-- Test helper: spec/helpers/wire_recorder.c (built by `make build` into build/spec/wire_recorder), an HTTP/1.1
-- server that records every request as it arrived, started in its own process group and always stopped with
-- it. It answers 200 with an empty API envelope (201 and a token for POST /oauth2/token).
--   local rec = wire.start()      -> rec.url, rec.port
--   rec:take()                    -> the requests recorded since the last take, in order:
--                                    { method, target, path, query (raw), headers = { {name, value}... },
--                                      body (bytes), connection }, with :header(name) -> values (any case)
--   rec:stop()
local spawn = require "spec.helpers.spawn"

local M = {}

local Request = {}
Request.__index = Request

--- Every value of a header (names compare without case), in the order they came.
function Request:header(name)
  local values, lower = {}, name:lower()
  for _, h in ipairs(self.headers) do
    if h[1]:lower() == lower then values[#values + 1] = h[2] end
  end
  return values
end

local function parse(head, body, connection)
  local method, target = head:match("^(%S+) (%S+) HTTP/1%.1\r\n")
  local request = setmetatable({ method = method, target = target, headers = {}, body = body,
                                 connection = tonumber(connection), head = head }, Request)
  if target then request.path, request.query = target:match("^([^?]*)%??(.*)$") end
  for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
    request.headers[#request.headers + 1] = { name, value }
  end
  return request
end

local Recorder = {}
Recorder.__index = Recorder

function M.start()
  local dir = spawn.folder("wire")
  local started = spawn.start("wire_recorder", dir, { dir }, 2)
  return setmetatable({ dir = dir, started = started, url = started.url, port = started.port, offset = 0 }, Recorder)
end

--- The requests recorded since the last take (each is written whole before it is answered).
function Recorder:take()
  local f = assert(io.open(self.dir .. "/wire.log", "rb"))
  f:seek("set", self.offset)
  local data = f:read("*a")
  f:close()
  local requests, pos = {}, 1
  while true do
    local connection, head_len, body_len, start = data:match("^REQUEST %d+ (%d+) (%d+) (%d+)\n()", pos)
    if not connection then break end
    head_len, body_len = tonumber(head_len), tonumber(body_len)
    requests[#requests + 1] = parse(data:sub(start, start + head_len - 1),
      data:sub(start + head_len, start + head_len + body_len - 1), connection)
    pos = start + head_len + body_len + 1
  end
  self.offset = self.offset + pos - 1
  return requests
end

--- Stops the server (safe to call twice).
function Recorder:stop()
  spawn.stop(self.started, self.dir)
  self.dir = nil
end

return M
