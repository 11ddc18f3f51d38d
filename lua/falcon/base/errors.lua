--- The one error module: it decides every error's prefix, level and fields, and whether it is raised or
--- returned.
--
-- * A caller's mistake (bad argument, unknown option, misuse) is raised before anything is sent, as the
--   string `falcon: <where>: <what>` at level 0 (`errors.raise`, `errors.bad_argument`,
--   `errors.bad_option`, `errors.unknown_option`). Level 0: most such errors are found deep inside the
--   library, where a position would point into falcon, not at the caller's line.
-- * A failed exchange (transport failure, refused token, API error) is returned, never raised: the
--   FalconPy response shape `{status_code, headers, body = {meta, resources, errors}}` with
--   `transport_error` (a `falcon.core.error`: `errors.core_error` builds one in Lua) or `token_error`.
-- * In Result mode (pythonic = true) such a response is raised as a `falcon.APIError` (below), as is
--   pagination that cannot continue.
local core = require "falcon.core"
local suggest = require "falcon.base.suggest"
local untrusted = require "falcon.base.untrusted"

local errors = {}

--- `falcon: <where>: <what>` (`where` may be nil for the client's own options, which every constructor
--- shares).
---@param where string|nil the function or operation
---@param fmt string
function errors.message(where, fmt, ...)
  local what = select("#", ...) > 0 and fmt:format(...) or fmt
  if where then return "falcon: " .. where .. ": " .. what end
  return "falcon: " .. what
end

--- Raises a caller's mistake: `falcon: <where>: <what>`, level 0.
function errors.raise(where, fmt, ...)
  error(errors.message(where, fmt, ...), 0)
end

--- `falcon: <where>: bad argument '<name>' (<what>)`.
function errors.bad_argument(where, name, what)
  errors.raise(where, "bad argument '%s' (%s)", tostring(name), what)
end

--- `falcon: <where>: bad option '<name>' (<what>)`.
function errors.bad_option(where, name, what)
  errors.raise(where, "bad option '%s' (%s)", tostring(name), what)
end

--- `falcon: <where>: unknown option '<name>'`, with the nearest known names ("did you mean"); a nested
--- option is named whole (`coordination.prefx`), its last part compared with `known`.
---@param known string[]|table<string, any> the accepted names (a list, or a table keyed by them)
function errors.unknown_option(where, name, known)
  local hint = type(name) == "string" and suggest.hint(name:match("[^.]*$"), known) or ""
  errors.raise(where, "unknown option '%s'%s", tostring(name), hint)
end

--- A `falcon.core.error` built for a failure the engine finds itself: `{kind, message, reached_server}`,
--- made by the C core (csrc/errors.c) like every other, so it prints and compares like one.
---@param kind string
---@param message string
---@param reached_server boolean
function errors.core_error(kind, message, reached_server)
  return core.transport_error(kind, message, reached_server == true)
end

--- falcon.APIError: the error object raised in Result mode (pythonic=true), for API errors (HTTP status
--- >= 400), transport and token failures, and pagination that cannot continue.

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
  local listed = type(body.errors) == "table" and body.errors or {}
  local first = type(listed[1]) == "table" and listed[1] or {}
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
    errors = listed,
    headers = headers,
    operation = operation,
    kind = response.transport_error and "transport" or response.token_error and "auth" or "api",
    transport_error = response.transport_error,
    token_error = response.token_error,
    advice = response.advice,
  }
end

-- What a new user can do about a refused token request, by status.
local function token_advice(status, has_member_cid)
  if status == 401 or status == 403 then
    return "check client_id and client_secret (or FALCON_CLIENT_ID / FALCON_CLIENT_SECRET): the API "
      .. "refused them" .. (has_member_cid and ", or this API client may not act on the member_cid given" or "")
  elseif status == 400 then
    return "the token request itself was refused; check that client_id and client_secret are the API "
      .. "client's, without spaces or quotes"
  elseif status == 429 then
    return "too many token requests; reuse one client (or auth_object) instead of creating one per call"
  elseif status >= 500 then
    return "the token endpoint failed; try again later"
  end
  return "see the token endpoint's answer in token_error"
end

--- The answer to a call whose token request failed: the API's shape ({status_code, headers, body}) with
--- one error saying so (which URL, what it answered, what to do), and `token_error` holding the details
--- (`url`, `status`, `reason`, the token endpoint's own `errors`).
-- @tparam string url the token endpoint
-- @tparam integer status its HTTP status
-- @tparam table headers its headers
-- @param body its decoded body
-- @tparam boolean has_member_cid whether the request named a member CID
function errors.token_failure(url, status, headers, body, has_member_cid)
  local their = type(body) == "table" and type(body.errors) == "table" and body.errors or {}
  local reason = type(their[1]) == "table" and their[1].message
  if type(reason) ~= "string" then reason = type(body) == "string" and body:sub(1, 200) or ("HTTP " .. status) end
  local message = ("token request failed: POST %s answered %d (%s); %s"):format(url, status, reason,
    token_advice(status, has_member_cid))
  local meta = type(body) == "table" and type(body.meta) == "table" and body.meta or {}
  return {
    status_code = status,
    headers = headers,
    body = { meta = meta, resources = {}, errors = { { code = status, message = message } } },
    token_error = { url = url, status = status, reason = reason, errors = their },
  }
end

--- Adds what a user can do to an error answer: `response.advice`, and appended to the first error's
--- message (what users print), marked as falconlua's.
function errors.advise(response, advice)
  response.advice = advice
  local body = response.body
  if type(body) == "table" and type(body.errors) == "table" and type(body.errors[1]) == "table"
      and type(body.errors[1].message) == "string" then
    body.errors[1].message = body.errors[1].message .. " (falconlua: " .. advice .. ")"
  end
  return response
end

--- True when `e` is an APIError.
function APIError.is(e)
  return type(e) == "table" and getmetatable(e) == APIError
end

-- The message and trace id are the server's: printed escaped (falcon.base.untrusted), kept as sent in the fields.
function APIError.__tostring(e)
  local parts = { "falcon.APIError" }
  if e.operation then parts[#parts + 1] = " " .. e.operation end
  parts[#parts + 1] = ": "
  if e.status_code then parts[#parts + 1] = "[" .. tostring(e.status_code) .. "] " end
  parts[#parts + 1] = untrusted.printable(tostring(e.message))
  if e.trace_id then parts[#parts + 1] = " (trace_id " .. untrusted.printable(tostring(e.trace_id)) .. ")" end
  return table.concat(parts)
end

errors.APIError = APIError
-- `require "falcon.base.errors"` was the APIError class itself: its constructors stay reachable here.
errors.new, errors.from_response, errors.is = APIError.new, APIError.from_response, APIError.is

return errors
