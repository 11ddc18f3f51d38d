--- falcon.APIError: the error object raised in Result mode (pythonic=true).
--
-- Raised for API errors (HTTP status >= 400), transport failures (reported by the engine as
-- status 500 with a `transport_error`), and pagination that cannot continue. Programmer errors
-- (bad arguments) are plain string errors instead, raised before any request is sent.
local untrusted = require "falcon.untrusted"

local APIError = {}
APIError.__index = APIError
APIError.__name = "falcon.APIError"

--- Builds an APIError.
-- @tparam table fields status_code, code, message, trace_id, errors, headers, operation, kind
-- @treturn falcon.APIError
function APIError.new(fields)
  local e = {}
  for k, v in pairs(fields or {}) do e[k] = v end
  e.errors = e.errors or {}
  e.message = e.message or "API error"
  return setmetatable(e, APIError)
end

--- Builds an APIError from an engine response table ({status_code, headers, body}).
-- @tparam table response
-- @tparam[opt] string operation
function APIError.from_response(response, operation)
  local body = type(response.body) == "table" and response.body or {}
  local errors = type(body.errors) == "table" and body.errors or {}
  local first = type(errors[1]) == "table" and errors[1] or {}
  local meta = type(body.meta) == "table" and body.meta or {}
  local headers = response.headers or {}
  local message = first.message
  if type(message) ~= "string" then
    if type(response.body) == "string" and #response.body > 0 then
      message = response.body:sub(1, 200)
    else
      message = "HTTP " .. tostring(response.status_code)
    end
  end
  return APIError.new {
    status_code = response.status_code,
    code = first.code or response.status_code,
    message = message,
    trace_id = meta.trace_id or headers["X-Cs-Traceid"] or headers["x-cs-traceid"],
    errors = errors,
    headers = headers,
    operation = operation,
    kind = response.transport_error and "transport" or "api",
    transport_error = response.transport_error,
  }
end

--- True when `e` is an APIError.
function APIError.is(e)
  return type(e) == "table" and getmetatable(e) == APIError
end

-- The message and trace id are the server's: printed escaped (falcon.untrusted), kept as sent in the fields.
function APIError.__tostring(e)
  local parts = { "falcon.APIError" }
  if e.operation then parts[#parts + 1] = " " .. e.operation end
  parts[#parts + 1] = ": "
  if e.status_code then parts[#parts + 1] = "[" .. tostring(e.status_code) .. "] " end
  parts[#parts + 1] = untrusted.printable(tostring(e.message))
  if e.trace_id then parts[#parts + 1] = " (trace_id " .. untrusted.printable(tostring(e.trace_id)) .. ")" end
  return table.concat(parts)
end

return APIError
