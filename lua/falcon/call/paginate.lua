--- Pagination iterators for every paging style of the Falcon API.
--
--     for page in mc:pages("query_cases", { limit = 500 }) do ... end
--     for id in mc:each("query_cases", { filter = "case.status:'open'" }) do ... end
--     for page, nodes in falcon.graphql_pages(idp, QUERY, { }) do ... end
--
-- Styles (../shared/spec/API.md, "Pagination styles"): numeric offset + total; string offset
-- token; `after` token; `_marker` timestamps in the filter; GraphQL cursors. The style is taken
-- from the first response unless `opts.style` names it. Iteration stops exactly at the end.
-- Errors are never a quiet end: `pages` yields the error response as its last page in the
-- default mode and raises falcon.APIError in Result mode; `each` raises falcon.APIError in both
-- modes (it cannot hand back a response mid-stream). Offset paging that would pass the API's
-- deep-offset cap (10,000 unless `opts.max_offset` says otherwise) raises an APIError telling
-- the user to narrow the filter or use the scroll/`after` operation, after yielding every
-- page the cap allows; so does a page that comes back empty while the total says more remain.
-- A page that makes no progress raises an APIError (code "no_progress") naming the operation and
-- the repeated value, for every style: a token, `after`, `_marker` or cursor the server already
-- named (raised after that page is yielded), or the same items as the page before (raised instead
-- of yielding them again). Paging totals and page sizes are read strictly (falcon.base.untrusted); a
-- token or marker with control characters is never sent back (code "bad_pagination").
-- Every page is one call of the call layer (falcon.call), as any other call: paging knows nothing of the
-- classes above it. The Uber class's forms reach it already turned into keywords and `extra`.
local call = require "falcon.call"
local APIError = require("falcon.base.errors").APIError
local endpoints = require "falcon.endpoints"
local json = require "falcon.json"
local copy = require("falcon.base.util").copy
local options = require "falcon.base.options"
local parallel = require "falcon.drivers.parallel"
local untrusted = require "falcon.base.untrusted"

local M = {}

M.MAX_OFFSET = 10000

local fail = require("falcon.base.errors").bad_argument

local function check_opts(name, opts)
  local known = { on_page = "function", style = "string", max_offset = "number", max_pages = "number",
                  parallel = "number" }
  opts = options.check_keys(name, opts, known)
  for k, v in pairs(opts) do
    if type(v) ~= known[k] then fail(name, k, known[k] .. " expected, got " .. type(v)) end
  end
  if opts.parallel and (opts.parallel ~= math.floor(opts.parallel) or opts.parallel < 1 or opts.parallel > 64) then
    fail(name, "parallel", "integer 1..64 expected, got " .. tostring(opts.parallel))
  end
  if opts.style and not ({ offset = true, token = true, after = true, marker = true, none = true })[opts.style] then
    fail(name, "style", "one of offset, token, after, marker, none expected, got '" .. opts.style .. "'")
  end
  return opts
end

local function has_param(op, pname)
  for _, p in ipairs(op.params) do
    if p.name == pname and p["in"] == "query" then return p end
  end
  return nil
end

--- FQL-quotes a marker value.
local function fql_quote(s)
  return "'" .. tostring(s):gsub("\\", "\\\\"):gsub("'", "\\'") .. "'"
end

--- Replaces (or adds) the `_marker:>='...'` condition of a filter.
function M.marker_filter(filter, marker)
  local cond = "_marker:>=" .. fql_quote(marker)
  if type(filter) ~= "string" or filter == "" then return cond end
  local replaced, n = filter:gsub("_marker%s*:%s*>=?%s*'[^']*'", (cond:gsub("%%", "%%%%")), 1)
  if n == 0 then replaced, n = filter:gsub("_marker%s*:%s*>=?%s*[%w%.]+", (cond:gsub("%%", "%%%%")), 1) end
  if n == 0 then return filter .. "+" .. cond end
  return replaced
end

local function detect_style(op, args, body)
  local meta = type(body) == "table" and type(body.meta) == "table" and body.meta or {}
  local pag = type(meta.pagination) == "table" and meta.pagination or {}
  if pag.after ~= nil or (has_param(op, "after") and not has_param(op, "offset")) then return "after" end
  if type(pag.offset) == "string" then return "token" end
  local sort, filter = args.sort, args.filter
  if (type(sort) == "string" and sort:find("^_marker")) or (type(filter) == "string" and filter:find("_marker", 1,
      true)) then
    return "marker"
  end
  if type(pag.total) == "number" then return "offset" end
  return "none"
end

-- A page that makes no progress ends paging with an error, never a loop. The server's value is shown
-- shortened (APIError's tostring escapes it).
local SHOWN = 80

local function shown(value)
  local text = tostring(value)
  if #text > SHOWN then text = text:sub(1, SHOWN) .. "..." end
  return "'" .. text .. "'"
end

local function paging_error(operation, code, message)
  return APIError.new { kind = "pagination", operation = operation, code = code, message = message }
end

local function named_again(operation, name, what, value)
  return paging_error(operation, "no_progress", ("%s: the server named the same %s %s again; paging stopped "
    .. "instead of looping"):format(name, what, shown(value)))
end

local function repeated_page(operation, name, what, value)
  return paging_error(operation, "no_progress", ("%s: the page for %s %s repeats the page before it; paging "
    .. "stopped instead of yielding the same items again"):format(name, what, shown(value)))
end

-- What tells a page's items from the previous page's, cheaply: their count, first and last.
local function fingerprint(items)
  local n = #items
  if n == 0 then return nil end
  local function key(item)
    if type(item) ~= "table" then return type(item) .. ":" .. tostring(item) end
    local ok, text = pcall(json.encode, item)
    return ok and text or tostring(item)
  end
  return n .. "\0" .. key(items[1]) .. "\0" .. key(items[n])
end

local function resources_of(body)
  if type(body) ~= "table" then return {} end
  local r = body.resources
  if type(r) ~= "table" or r == json.null then return {} end
  return r
end

-- Offset paging with `parallel = n`: the pages after the current one are known from the total, so the
-- next n are fetched at once (falcon.parallel) and handed out in order. Token styles stay sequential:
-- each page names the next.
local function prefetch(w, args, limit, total)
  local obj, op, name, max_offset, opts = w.obj, w.op, w.name, w.max_offset, w.opts
  local offsets, offset = {}, tonumber(args.offset)
  while #offsets < opts.parallel and offset < total and offset < max_offset do
    offsets[#offsets + 1] = offset
    offset = offset + limit
  end
  local tasks = {}
  for i, at in ipairs(offsets) do
    local page_args = copy(args)
    page_args.offset = at
    if at + limit > max_offset then page_args.limit = max_offset - at end
    tasks[i] = function() return call.send(obj, op, name, page_args, w.extra) end
  end
  local responses, errors = parallel.run(tasks, { max = #tasks })
  if errors then for i = 1, #tasks do if errors[i] then error(errors[i], 0) end end end
  local queue = {}
  for i, at in ipairs(offsets) do queue[i] = { response = responses[i], offset = at } end
  return queue
end

-- After a page of `offset` style: the next offset (and a shorter last limit under the cap), the pages
-- to fetch ahead with `parallel`, or the end.
local function after_offset(w, response, items, pag, total)
  local state, name, op = w.state, w.name, w.op
  local offset = tonumber(state.args.offset) or 0
  local n = #items
  local nxt = offset + n
  state.count = state.count + n
  if n == 0 and total and offset < total then
    state.pending = paging_error(op.id, "short_page", ("%s: no items at offset %d although the server's "
      .. "total is %d; paging stopped short of the end"):format(name, offset, total))
  elseif n == 0 or (total and nxt >= total) or not total then
    state.done = true
  else
    local served = untrusted.integer(pag.limit) -- the server's word for a page's size, when none was asked
    local limit = tonumber(state.args.limit) or (served and served >= 1 and served) or n
    if nxt >= w.max_offset then
      state.pending = APIError.new {
        kind = "pagination", operation = op.id, status_code = nil, code = "offset_cap",
        message = string.format(
          "%s: %d results match but offset paging stops at %d; narrow the filter, "
            .. "or page with the scroll/after operation (e.g. QueryDevicesByFilterScroll)",
          name, total, w.max_offset),
      }
    else
      state.args.offset = nxt
      if nxt + limit > w.max_offset then state.args.limit = w.max_offset - nxt end
      if (w.opts.parallel or 1) > 1 and not (state.queue and #state.queue > 0) then
        state.queue = prefetch(w, state.args, limit, total)
      end
    end
  end
  return response
end

-- After a page of `token` or `after` style: the page names the next one (a string `offset` token of a
-- scroll, or an `after` token).
local function after_token(w, response, items, pag, total)
  local state, name, op = w.state, w.name, w.op
  local key = state.style == "token" and "offset" or "after"
  local n = #items
  state.count = state.count + n
  local token = pag[key]
  if n == 0 or type(token) ~= "string" or token == "" or (total and state.count >= total) then
    state.done = true
  elseif token:find("%c") then
    state.pending = paging_error(op.id, "bad_pagination", ("%s: the server's %s token %s holds control "
      .. "characters; paging stopped"):format(name, key, shown(token)))
  elseif state.named[token] or token == state.args[key] then
    state.pending = named_again(op.id, name, key .. " token", token)
  else
    state.named[token] = true
    state.args[key] = token
  end
  return response
end

-- After a page of `_marker` style: `_marker:>='m'` returns the boundary entity again, so it is dropped
-- (yielded once); the last item's marker goes into the next filter. Nil when nothing new came.
local function after_marker(w, response, items, _, total)
  local state, name, op = w.state, w.name, w.op
  local n = #items
  local fresh = json.array()
  for _, item in ipairs(items) do
    if not (state.last_marker ~= nil and type(item) == "table" and item._marker == state.last_marker) then
      fresh[#fresh + 1] = item
    end
  end
  local last = items[n]
  local marker = type(last) == "table" and last._marker or nil
  if #fresh == 0 then
    state.done = true
    return nil
  end
  if #fresh ~= n then
    local body = copy(response.body)
    body.resources = fresh
    response = copy(response)
    response.body = body
  end
  state.count = state.count + #fresh
  if marker == nil or marker == json.null or (total and total <= n) then
    state.done = true
  elseif type(marker) ~= "string" or marker:find("%c") then
    state.pending = paging_error(op.id, "bad_pagination", ("%s: the server's _marker %s is not a marker; "
      .. "paging stopped"):format(name, shown(marker)))
  elseif state.named[marker] then
    state.pending = named_again(op.id, name, "_marker", marker)
  else
    state.named[marker] = true
    state.last_marker = marker
    state.args.filter = M.marker_filter(state.args.filter, marker)
  end
  return response
end

local function after_single(w, response, items)
  w.state.count = w.state.count + #items
  w.state.done = true
  return response
end

local after = { offset = after_offset, token = after_token, after = after_token, marker = after_marker,
                none = after_single }

-- The next response: one fetched ahead (parallel offset paging), or a request now.
local function next_response(w)
  local state = w.state
  if state.queue and #state.queue > 0 then
    local ahead = table.remove(state.queue, 1)
    state.args.offset = ahead.offset
    return ahead.response
  end
  return call.send(w.obj, w.op, w.name, state.args, w.extra)
end

-- The page's total, read strictly; a total that is not a count ends paging with an error.
local function page_total(w, pag)
  local total = untrusted.integer(pag.total)
  if pag.total ~= nil and pag.total ~= json.null and total == nil and w.state.style ~= "none" then
    w.state.done = true
    error(paging_error(w.op.id, "bad_pagination", ("%s: the server's pagination total %s is not a count")
      :format(w.name, shown(pag.total))), 0)
  end
  return total
end

-- The same items as the page before end paging with an error instead of a loop.
local function check_progress(w, items)
  local state, style = w.state, w.state.style
  local page_key = fingerprint(items)
  if page_key and page_key == state.previous then
    local position = style == "offset" and (tonumber(state.args.offset) or 0)
      or style == "marker" and state.last_marker or state.args[style == "token" and "offset" or "after"]
    state.done = true
    error(repeated_page(w.op.id, w.name, style == "marker" and "_marker" or style, position), 0)
  end
  state.previous = page_key
end

-- One step of the walk: the next page's response and whether it failed, or nil at the end.
local function walk_step(w)
  local state, opts = w.state, w.opts
  if state.pending then
    local e = state.pending
    state.pending = nil
    state.done = true
    error(e, 0)
  end
  if state.done then return nil end
  if opts.max_pages and state.page >= opts.max_pages then state.done = true; return nil end
  local response = next_response(w)
  state.page = state.page + 1
  if call.is_error(response) then
    state.done = true
    return response, true
  end
  local body = response.body
  state.style = state.style or detect_style(w.op, state.args, body)
  local items = resources_of(body)
  local meta = type(body) == "table" and type(body.meta) == "table" and body.meta or {}
  local pag = type(meta.pagination) == "table" and meta.pagination or {}
  local total = page_total(w, pag)
  check_progress(w, items)
  response = after[state.style](w, response, items, pag, total)
  if response == nil then return nil end
  if opts.on_page then
    opts.on_page(response, { page = state.page, count = state.count, total = total, style = state.style })
  end
  return response, false
end

--- Core page walker shared by pages() and each(): a function returning (response, failed) per page,
--- nil at the end.
local function walker(obj, op, name, args, opts, extra)
  opts = check_opts(name, opts)
  if args ~= nil and type(args) ~= "table" then fail(name, "args", "table of keyword arguments expected, got " ..
      type(args)) end
  local w = {
    obj = obj, op = op, name = name, opts = opts, max_offset = opts.max_offset or M.MAX_OFFSET,
    extra = extra, -- what falcon.call.forms made of the Uber forms of the Uber class's iterators
    state = {
      args = copy(args), style = opts.style, page = 0, count = 0, done = false,
      last_marker = nil, pending = nil,
      named = {}, -- every token, `after` or marker sent so far
      previous = nil, -- the last page's fingerprint
    },
  }
  return function() return walk_step(w) end
end

--- Iterates the pages of a paged operation.
-- @param obj service or Uber object
-- @tparam table op operation record
-- @tparam string name caller-facing operation name
-- @tparam[opt] table args keyword arguments of the first request
-- @tparam[opt] table opts { on_page = function(page, info), style = "...", max_offset = n, max_pages = n }
-- @tparam[opt] table extra falcon.call.forms's `extra` when the Uber class iterates (its forms, as the call layer takes them)
-- @return iterator yielding a response table (default) or a Result (pythonic) per page
function M.pages(obj, op, name, args, opts, extra)
  local step = walker(obj, op, name, args, opts, extra)
  return function()
    local response, failed = step()
    if response == nil then return nil end
    if failed and obj._pythonic then error(APIError.from_response(response, op.id), 0) end
    if failed then return response end
    return call.shape(obj, response, nil, op)
  end
end

--- Iterates the items (`resources`) of every page.
-- @return iterator yielding one item per step; raises falcon.APIError when a page fails
function M.each(obj, op, name, args, opts, extra)
  local step = walker(obj, op, name, args, opts, extra)
  local items, i = {}, 0
  return function()
    while true do
      i = i + 1
      local item = items[i]
      if item ~= nil then return item end
      local response, failed = step()
      if response == nil then return nil end
      if failed then error(APIError.from_response(response, op.id), 0) end
      items, i = resources_of(response.body), 0
    end
  end
end

---------------------------------------------------------------------------------------------
-- GraphQL (IdentityProtection)
---------------------------------------------------------------------------------------------

local GRAPHQL_OP = "api_preempt_proxy_post_graphql"

-- Finds the first table under `data` carrying pageInfo (keys visited in sorted order).
local function find_connection(node, depth)
  if type(node) ~= "table" or depth > 6 then return nil end
  if type(node.pageInfo) == "table" then return node end
  local keys = {}
  for k in pairs(node) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local found = find_connection(node[k], depth + 1)
    if found then return found end
  end
  return nil
end

-- A page's connection (the table with pageInfo: under `path`, else the first found) and its nodes.
local function connection_of(body, path)
  local data = type(body) == "table" and body.data or nil
  local conn
  if path then
    conn = type(data) == "table" and data[path] or nil
  else
    conn = find_connection(data, 0)
  end
  return conn, type(conn) == "table" and type(conn.nodes) == "table" and conn.nodes or {}
end

-- graphql_pages's arguments, checked before anything is sent; returns the checked options.
local function graphql_arguments(name, obj, query, variables, opts)
  if type(obj) ~= "table" or rawget(obj, "_client") == nil then
    fail(name, "client", "service or Uber object expected, got " .. type(obj))
  end
  if type(query) ~= "string" or query == "" then fail(name, "query", "GraphQL query string expected, got " ..
      type(query)) end
  if variables ~= nil and type(variables) ~= "table" then fail(name, "variables", "table expected, got " ..
      type(variables)) end
  opts = options.check_keys(name, opts, { on_page = true, path = true, max_pages = true })
  if opts.max_pages ~= nil and type(opts.max_pages) ~= "number" then fail(name, "max_pages", "number expected, got " ..
      type(opts.max_pages)) end
  if opts.path ~= nil and type(opts.path) ~= "string" then fail(name, "path", "string expected, got " ..
      type(opts.path)) end
  if opts.on_page ~= nil and type(opts.on_page) ~= "function" then fail(name, "on_page", "function expected, got " ..
      type(opts.on_page)) end
  return opts
end

--- Iterates the pages of a GraphQL query that follows the Relay cursor convention.
-- The query must declare `$after` and pass it to the paged field; each page's
-- `pageInfo.endCursor` becomes the next `after` until `hasNextPage` is false.
-- @param obj any service or Uber object (its client sends the request)
-- @tparam string query GraphQL text
-- @tparam[opt] table variables initial variables
-- @tparam[opt] table opts { on_page = function(page, info), path = "entities", max_pages = n }
-- @return iterator yielding page, nodes (page is a response table or a Result)
function M.graphql_pages(obj, query, variables, opts)
  local name = "graphql_pages"
  opts = graphql_arguments(name, obj, query, variables, opts)
  local op = endpoints.get(GRAPHQL_OP)
  local vars = copy(variables)
  local done, page, count = false, 0, 0
  local pending, cursors, previous = nil, {}, nil
  return function()
    if pending then
      done = true
      local e = pending
      pending = nil
      error(e, 0)
    end
    if done then return nil end
    if opts.max_pages and page >= opts.max_pages then done = true; return nil end
    local args = { query = query }
    if next(vars) then args.variables = copy(vars) end
    local response = call.send(obj, op, name, args)
    page = page + 1
    local body = response.body
    local gql_errors = type(body) == "table" and type(body.errors) == "table" and #body.errors > 0
      and type(body.data) ~= "table"
    if call.is_error(response) or gql_errors then
      done = true
      if obj._pythonic then
        local e = APIError.from_response(response, GRAPHQL_OP)
        if gql_errors and not call.is_error(response) then e.kind = "graphql" end
        error(e, 0)
      end
      return response, {}
    end
    local conn, nodes = connection_of(body, opts.path)
    local page_key = fingerprint(nodes)
    if page_key and page_key == previous then
      done = true
      error(repeated_page(GRAPHQL_OP, name, "cursor", vars.after), 0)
    end
    previous = page_key
    count = count + #nodes
    local info = type(conn) == "table" and conn.pageInfo or nil
    if type(info) == "table" and info.hasNextPage == true and type(info.endCursor) == "string" and #nodes > 0 then
      if cursors[info.endCursor] then
        pending = named_again(GRAPHQL_OP, name, "endCursor", info.endCursor)
      else
        cursors[info.endCursor] = true
        vars.after = info.endCursor
      end
    else
      done = true
    end
    if opts.on_page then opts.on_page(response, { page = page, count = count }) end
    return call.shape(obj, response, nil, op), nodes
  end
end

return M
