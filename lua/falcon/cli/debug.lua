--- `--debug` (or FALCON_DEBUG=1): every request and answer on stderr, secrets redacted.
--
--   falcon debug: POST /oauth2/token status=201 duration=0.004s        the SDK's log line of each exchange
--   falcon debug: > GET https://api.crowdstrike.com/message-center/queries/cases/v1?limit=2
--   falcon debug: > body {"ids":["..."]}
--   falcon debug: < 200 X-Cs-Traceid: ... (each header)
--   falcon debug: < body {"meta":...}                                   at most 4 KiB of it
--
-- What never shows: the client secret and the token (they live in the C core: the token request's form
-- and the Authorization header are built there and never reach Lua), and the value of any header or
-- JSON key whose name says it holds a secret (secret, token, password, authorization, cookie, key).
local core = require "falcon.core"
local json = require "falcon.json"
local untrusted = require "falcon.base.untrusted"

local M = {}

M.BODY_SHOWN = 4096

local SECRET_NAME = { "secret", "token", "password", "passw", "authorization", "cookie", "api_key", "apikey",
                      "private_key", "credential" }

--- True when a key or header name says its value is a secret.
function M.is_secret_name(name)
  local lower = tostring(name):lower()
  for _, word in ipairs(SECRET_NAME) do
    if lower:find(word, 1, true) then return true end
  end
  return false
end

--- A copy of a decoded JSON value with the values of secret-named keys replaced.
function M.redact(value, depth)
  depth = depth or 0
  if type(value) ~= "table" or value == json.null or depth > 64 then return value end
  local copy = json.is_array(value) and json.array() or {}
  for k, v in pairs(value) do
    if type(k) == "string" and M.is_secret_name(k) then copy[k] = "[redacted]"
    else copy[k] = M.redact(v, depth + 1) end
  end
  return copy
end

-- A body as one printable line: JSON redacted and re-encoded, other bytes counted.
local function body_text(body, content_type)
  if body == nil or body == "" then return nil end
  if type(body) == "string" and (content_type or ""):find("json", 1, true) then
    local ok, value = pcall(json.decode, body)
    if ok then body = value end
  end
  local text
  if type(body) == "table" then text = json.encode(M.redact(body))
  elseif type(body) == "string" then text = ("(%d bytes)"):format(#body)
  else text = tostring(body) end
  if #text > M.BODY_SHOWN then text = text:sub(1, M.BODY_SHOWN) .. ("... (%d bytes)"):format(#text) end
  -- JSON text keeps its backslashes; a control character or a byte past ASCII cannot drive the terminal
  return (text:gsub("[%c\127-\255]", function(c) return ("\\x%02X"):format(c:byte()) end))
end

--- Lines for a request about to be sent by `client`.
function M.request_lines(client, req)
  local query = ""
  if type(req.query) == "table" and #req.query > 0 then
    local pairs_ = {}
    for i, p in ipairs(req.query) do
      pairs_[i] = { p[1], M.is_secret_name(p[1]) and "[redacted]" or p[2] }
    end
    query = "?" .. core.encode_query(pairs_)
  end
  local lines = { ("> %s %s%s%s"):format(req.method, client.core:base_url(), req.route, query) }
  for name, value in pairs(req.headers or {}) do
    lines[#lines + 1] = ("> %s: %s"):format(name, M.is_secret_name(name) and "[redacted]" or untrusted.printable(value))
  end
  local body = body_text(req.body, req.content_type)
  if body then lines[#lines + 1] = "> body " .. body end
  if type(req.form) == "table" then
    for _, part in ipairs(req.form) do
      local value = part.path and ("(file " .. tostring(part.path) .. ")")
        or part.data and ("(%d bytes named %s)"):format(#part.data, tostring(part.filename)) or part.value
      if M.is_secret_name(part.name) then value = "[redacted]" end
      lines[#lines + 1] = ("> form %s=%s"):format(tostring(part.name), untrusted.printable(tostring(value)))
    end
  end
  return lines
end

--- Lines for an answer (the engine's response table).
function M.response_lines(response)
  if response.transport_error then
    return { ("< transport error (%s): %s"):format(tostring(response.transport_error.kind),
      untrusted.printable(tostring(response.transport_error.message))) }
  end
  local lines = { "< " .. tostring(response.status_code) }
  local headers = response.headers or {}
  local names = {}
  for name in pairs(headers) do if type(name) == "string" then names[#names + 1] = name end end
  table.sort(names)
  for _, name in ipairs(names) do
    local value = M.is_secret_name(name) and "[redacted]" or untrusted.printable(tostring(headers[name]))
    lines[#lines + 1] = ("< %s: %s"):format(untrusted.printable(name), value)
  end
  local body = body_text(response.body, headers["Content-Type"])
  if body then lines[#lines + 1] = "< body " .. body end
  if response.saved_to then lines[#lines + 1] = ("< saved %s bytes to %s"):format(tostring(response.saved_bytes),
    response.saved_to) end
  return lines
end

return M
