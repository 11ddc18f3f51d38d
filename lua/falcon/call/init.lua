--- The one call layer beneath the service classes and the Uber class: an operation and its keywords in,
--- the caller's answer out. Every call of either class, every page of paging and every batch of a lookup
--- goes through here, in three steps:
---
---   build   falcon.payload: the request value, checked (its quick path first: a query, an ids lookup)
---   request falcon.client: token, pacing, retries, the driver's exchange
---   shape   the response table, a Result (pythonic), bytes (a download), or status, headers, body
---
--- Above this layer nothing builds a request: a service method is made here (`call.method`), the Uber
--- class turns its forms into keywords and `extra` first (falcon.call.forms) and calls `call.invoke`, paging
--- (falcon.call.paginate) and the command line call `call.send` and `call.shape`.
local batch = require "falcon.call.batch"
local errors = require "falcon.base.errors"
local payload = require "falcon.payload"
local policy = require "falcon.base.policy"
local Result = require "falcon.base.result"
local copy = require("falcon.base.util").copy

local APIError = errors.APIError
local build, quick_paths = payload.build, payload.quick

local M = {}

-- The request with the object's ext_headers under the call's own headers (which win).
local function with_ext_headers(ext, request)
  local with = copy(request)
  with.headers = copy(ext)
  for k, v in pairs(request.headers or {}) do with.headers[k] = v end
  return with
end

--- Warns once per process that an operation is decommissioned upstream (through the client's logger).
local function warn_decommissioned(obj, op)
  obj._client:_warn_once(op.id, ("%s (%s %s) is decommissioned upstream and may stop working at any time")
    :format(op.id, op.method, op.route))
end

--- What a new user can do about a refused call, added to the answer (falcon.base.errors.advise): a 403 with a
--- token the API accepted is a missing scope; a 404 from a lookup is an id that is not there.
function M.advise(op, response)
  local status = response.status_code
  if response.token_error or response.transport_error or response.advice then return response end
  if status == 403 then
    local scope = "the scope this operation needs"
    if op.collection == "message_center" then
      scope = policy.idempotent(op.method, op.route) and "message-center:read" or "message-center:write"
    end
    errors.advise(response, ("the token was accepted but does not allow %s (%s %s): give the API client %s "
      .. "in the Falcon console (API clients and keys)"):format(op.id, op.method, op.route, scope))
  elseif status == 404 and not op.synthetic then
    errors.advise(response, ("%s found nothing under the id(s) given: check them (the query operations list "
      .. "the ids that exist in this tenant)"):format(op.id))
  end
  return response
end

-- Only a 2xx is a success: a redirect is not followed (it would carry the token elsewhere), so a 3xx is
-- an answer the caller must see as one, never a body handed back as if it were a download.
local function is_error(response)
  local status = tonumber(response.status_code) or 500
  return response.transport_error ~= nil or status < 200 or status >= 300
end
M.is_error = is_error

--- Builds the request(s) for keyword arguments, sends them and returns the engine's response table.
-- @param obj service or Uber object (its `_client` sends, its `_ext_headers` go on every request)
-- @tparam table op operation record (falcon.endpoints, or falcon.call.forms.override_op's)
-- @tparam string name the caller's name for the operation, for messages
-- @tparam table args keyword arguments
-- @tparam[opt] table extra what falcon.call.forms made of the Uber forms: form parts, headers, content_type
function M.send(obj, op, name, args, extra)
  if op.decommissioned then warn_decommissioned(obj, op) end
  local ext = rawget(obj, "_ext_headers")
  -- An entity lookup given more ids than one request takes: every batch built (and checked) before
  -- the first is sent, then sent concurrently and merged.
  local batches, ids, response
  if batch.limits[op] then batches, ids = batch.split(op, args) end
  if batches then
    local requests = {}
    for i, part in ipairs(batches) do
      local request = build(op, part, name, extra)
      requests[i] = ext and with_ext_headers(ext, request) or request
    end
    response = batch.send(obj._client, requests, ids)
  else
    -- The common call (a query, a lookup of ids) takes the builder's quick path: the same rules and
    -- helpers (spec/payload_build_spec.lua holds it to `build` over every operation), and no more.
    local quick = not extra and type(args) == "table" and quick_paths[op]
    local request = quick and quick(op, args, name) or build(op, args, name, extra)
    response = obj._client:request(ext and with_ext_headers(ext, request) or request)
  end
  local status = response.status_code
  if status == 403 or status == 404 then M.advise(op, response) end
  return response
end

--- Turns an engine response into what the caller sees, for the object's mode and the call's
--- `expand_result` / `save_to` keywords (args: the call's keyword table, already checked by payload).
function M.shape(obj, response, args, op)
  local pythonic = obj._pythonic
  if pythonic and is_error(response) then
    error(APIError.from_response(response, op and op.id), 0)
  end
  if args then
    if args.expand_result then return response.status_code, response.headers, response.body end
    if args.save_to then return response end
  end
  -- the bytes of a download are the answer itself (a JSON body is a table by now)
  if type(response.body) == "string" and not is_error(response) then return response.body end
  if pythonic then return Result.new(response) end
  return response
end

--- One call: build, send, shape.
function M.invoke(obj, op, name, args, extra)
  return M.shape(obj, M.send(obj, op, name, args, extra), args, op)
end

local merge_positional = payload.merge_positional

--- A service class's method for `op`: `obj:name(...)` with keywords, positional ids, or both.
-- @tparam string class_name for the message when it is called without a colon
function M.method(class_name, op, name)
  local send, shape = M.send, M.shape
  return function(self, a1, a2)
    if type(self) ~= "table" or rawget(self, "_client") == nil then
      errors.raise(class_name .. "." .. name, "call it as a method, with a colon: obj:%s{...}", name)
    end
    -- a table of keywords alone is merge_positional's own answer (a1 itself): no call for it
    local args = a1
    if a2 ~= nil or type(a1) ~= "table" or #a1 > 0 then args = merge_positional(op, name, a1, a2) end
    return shape(self, send(self, op, name, args), args, op)
  end
end

return M
