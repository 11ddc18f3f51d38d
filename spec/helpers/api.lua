-- Shared helpers of the API-layer specs (payload, service, uber, result, paginate, examples):
-- reading the emulator's request log and asserting that bad input sent nothing.
local emu = require "spec.helpers.emulator"
local json = require "falcon.json"

local M = {}

--- Starts a private emulator (always stopped by the caller's teardown).
function M.start(opts)
  return emu.start(opts)
end

--- Constructor options for the emulator's demo client.
function M.opts(e, extra)
  local o = { client_id = e.client_id, client_secret = e.client_secret, base_url = e.url, timeout = 20 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function unescape(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- The API calls in the log (token and control requests left out).
function M.calls(e)
  local out = {}
  for _, r in ipairs(e:requests()) do
    local path = (r.uri or ""):match("^[^?]*")
    if not path:find("^/oauth2/") and not path:find("^/_emulator/") then
      r.path = path
      out[#out + 1] = r
    end
  end
  return out
end

--- Requests to a path prefix (e.g. "/oauth2/token").
function M.calls_to(e, prefix)
  local out = {}
  for _, r in ipairs(e:requests()) do
    if (r.uri or ""):sub(1, #prefix) == prefix then out[#out + 1] = r end
  end
  return out
end

--- The last API call; fails the test when there is none.
function M.last(e)
  local calls = M.calls(e)
  assert(#calls > 0, "the emulator received no API call")
  return calls[#calls]
end

--- The query string of a logged request as ordered {key, value} pairs (decoded).
function M.query(entry)
  local args = entry.args
  if args == nil then args = (entry.uri or ""):match("%?(.*)$") end
  local pairs_ = {}
  if type(args) ~= "string" or args == "" then return pairs_ end
  for part in args:gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=?(.*)$")
    pairs_[#pairs_ + 1] = { unescape(k), unescape(v) }
  end
  return pairs_
end

--- The query pairs sorted (for order-independent comparison).
function M.sorted_query(entry)
  local q = M.query(entry)
  table.sort(q, function(a, b) if a[1] ~= b[1] then return a[1] < b[1] end return a[2] < b[2] end)
  return q
end

--- The decoded JSON body of a logged request.
function M.body(entry)
  assert(entry.body and entry.body ~= "", "the request had no body")
  return json.decode(entry.body)
end

--- A header of a logged request (names are lowercased in the log).
function M.header(entry, name)
  return (entry.headers or {})[name:lower()]
end

--- Runs fn, expects an error matching `pattern` (plain text), and proves nothing was sent.
function M.rejects(e, pattern, fn)
  e:clear_log()
  local ok, err = pcall(fn)
  assert(not ok, "expected an error matching '" .. pattern .. "', but the call succeeded")
  err = tostring(err)
  assert(err:find(pattern, 1, true), "error '" .. err .. "' does not contain '" .. pattern .. "'")
  local calls = M.calls(e)
  assert(#calls == 0, "a request was sent despite the error: " .. tostring(calls[1] and calls[1].uri))
  return err
end

--- Reads a whole file.
function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

--- A temporary file holding `bytes`, named `name` inside a fresh directory.
function M.temp_file(name, bytes)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path, dir
end

return M
