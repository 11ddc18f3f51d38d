-- Identity Protection GraphQL (POST /identity-protection/combined/graphql/v1), enough of it for
-- cursor paging: a small GraphQL parser (operations, variables, arguments, aliases, inline
-- fragments) and one root field, `entities(types:, first:, after:, archived:, sortKey:, sortOrder:)`,
-- answering {data: {entities: {nodes, pageInfo {hasNextPage, endCursor}}}} with nodes projected to
-- the selection set.
local envelope = require "emulator.envelope"
local json = require "emulator.json"
local store = require "emulator.store"

local M = {}

local array = json.array

-- ---------------------------------------------------------------------------------------------
-- Lexer and parser

local function gql_error(message)
    error({ graphql = true, message = message }, 0)
end

local function tokenize(text)
    local tokens, pos, n = {}, 1, #text
    while pos <= n do
        local c = text:sub(pos, pos)
        if c:match("[%s,]") then
            pos = pos + 1
        elseif c == "#" then
            local e = text:find("\n", pos, true)
            pos = e and e + 1 or n + 1
        elseif text:sub(pos, pos + 2) == "..." then
            tokens[#tokens + 1] = { t = "punct", v = "..." }
            pos = pos + 3
        elseif c:match("[{}%(%):%[%]!%$=@]") then
            tokens[#tokens + 1] = { t = "punct", v = c }
            pos = pos + 1
        elseif c:match("[_%a]") then
            local name = text:match("^[_%w]+", pos)
            tokens[#tokens + 1] = { t = "name", v = name }
            pos = pos + #name
        elseif c:match("[%-%d]") then
            local num = text:match("^%-?%d+%.?%d*[eE]?[+-]?%d*", pos)
            tokens[#tokens + 1] = { t = "number", v = tonumber(num) }
            pos = pos + #num
        elseif c == '"' then
            local out, i = {}, pos + 1
            while true do
                local ch = text:sub(i, i)
                if ch == "" then gql_error("unterminated string") end
                if ch == '"' then break end
                if ch == "\\" then
                    local esc = text:sub(i + 1, i + 1)
                    out[#out + 1] = ({ n = "\n", t = "\t", r = "\r", b = "\b", f = "\f" })[esc] or esc
                    i = i + 2
                else
                    out[#out + 1] = ch
                    i = i + 1
                end
            end
            tokens[#tokens + 1] = { t = "string", v = table.concat(out) }
            pos = i + 1
        else
            gql_error("unexpected character '" .. c .. "'")
        end
    end
    return tokens
end

local Parser = {}
Parser.__index = Parser

function Parser:peek(v)
    local tok = self.tokens[self.i]
    if v == nil then return tok end
    return tok and tok.v == v
end

function Parser:take(v)
    local tok = self.tokens[self.i]
    if not tok then gql_error("unexpected end of query") end
    if v and tok.v ~= v then
        gql_error("expected '" .. v .. "', found '" .. tostring(tok.v) .. "'")
    end
    self.i = self.i + 1
    return tok
end

function Parser:name()
    local tok = self:take()
    if tok.t ~= "name" then gql_error("expected a name, found '" .. tostring(tok.v) .. "'") end
    return tok.v
end

function Parser:value()
    local tok = self:take()
    if tok.v == "$" and tok.t == "punct" then
        return { var = self:name() }
    elseif tok.v == "[" and tok.t == "punct" then
        local list = {}
        while not self:peek("]") do list[#list + 1] = self:value() end
        self:take("]")
        return { list = list }
    elseif tok.v == "{" and tok.t == "punct" then
        local obj = {}
        while not self:peek("}") do
            local key = self:name()
            self:take(":")
            obj[key] = self:value()
        end
        self:take("}")
        return { object = obj }
    elseif tok.t == "name" then
        if tok.v == "true" then return { const = true } end
        if tok.v == "false" then return { const = false } end
        if tok.v == "null" then return { const = nil } end
        return { const = tok.v } -- enum value
    end
    return { const = tok.v }
end

function Parser:skip_directives()
    while self:peek("@") do
        self:take("@")
        self:name()
        if self:peek("(") then self:arguments() end
    end
end

function Parser:arguments()
    local args = {}
    self:take("(")
    while not self:peek(")") do
        local name = self:name()
        self:take(":")
        args[name] = self:value()
    end
    self:take(")")
    return args
end

function Parser:selection_set()
    local selections = {}
    self:take("{")
    while not self:peek("}") do
        if self:peek("...") then
            self:take("...")
            local on
            if self:peek("on") then
                self:take("on")
                on = self:name()
            end
            self:skip_directives()
            selections[#selections + 1] = { fragment = true, on = on, selections = self:selection_set() }
        else
            local name = self:name()
            local alias = name
            if self:peek(":") then
                self:take(":")
                name = self:name()
            end
            local sel = { name = name, alias = alias, args = {} }
            if self:peek("(") then sel.args = self:arguments() end
            self:skip_directives()
            if self:peek("{") then sel.selections = self:selection_set() end
            selections[#selections + 1] = sel
        end
    end
    self:take("}")
    return selections
end

-- Returns the top selection set of the (first) query operation.
function M.parse(text)
    local p = setmetatable({ tokens = tokenize(text), i = 1 }, Parser)
    local tok = p:peek()
    if not tok then gql_error("empty query") end
    if tok.v == "query" then
        p:take()
        if p:peek() and p:peek().t == "name" then p:take() end
        if p:peek("(") then
            -- Variable definitions: ($name: Type = default, ...); only the names matter here.
            p:take("(")
            local depth = 1
            while depth > 0 do
                local t = p:take()
                if t.v == "(" then depth = depth + 1 elseif t.v == ")" then depth = depth - 1 end
            end
        end
        p:skip_directives()
    elseif tok.v == "mutation" or tok.v == "subscription" then
        gql_error("only queries are supported")
    end
    return p:selection_set()
end

-- ---------------------------------------------------------------------------------------------
-- Execution

local function resolve(value, variables)
    if value.var then
        return variables[value.var]
    elseif value.list then
        local out = {}
        for i, v in ipairs(value.list) do out[i] = resolve(v, variables) end
        return out
    elseif value.object then
        local out = {}
        for k, v in pairs(value.object) do out[k] = resolve(v, variables) end
        return out
    end
    return value.const
end

local function project(obj, selections)
    if type(obj) ~= "table" then
        return obj
    end
    if obj[1] ~= nil or json.is_array(obj) then
        local out = array()
        for i, item in ipairs(obj) do out[i] = project(item, selections) end
        return out
    end
    local out = {}
    local function apply(list)
        for _, sel in ipairs(list) do
            if sel.fragment then
                if sel.on == nil or sel.on == obj.__typename then apply(sel.selections) end
            else
                local v = obj[sel.name]
                if v == nil then v = json.null end
                out[sel.alias] = sel.selections and project(v, sel.selections) or v
            end
        end
    end
    apply(selections)
    return out
end

local function cursor_of(index)
    return (ngx.encode_base64("cursor:" .. index):gsub("=", ""))
end

local function index_of(cursor)
    if type(cursor) ~= "string" then return nil end
    local text = ngx.decode_base64(cursor .. string.rep("=", (4 - #cursor % 4) % 4))
    return text and tonumber(text:match("^cursor:(%d+)$"))
end

local function entities(sel, variables)
    local args = {}
    for k, v in pairs(sel.args) do args[k] = resolve(v, variables) end
    local first = args.first or 10
    if type(first) ~= "number" or first < 1 or first > 1000 then
        gql_error("first must be between 1 and 1000")
    end
    local types
    if type(args.types) == "table" then
        types = {}
        for _, t in ipairs(args.types) do types[t] = true end
    end
    local list = {}
    for _, e in ipairs(store.data.entities) do
        if (not types or types[e.type]) and (args.archived == nil or e.archived == args.archived) then
            list[#list + 1] = e
        end
    end
    if args.sortKey then
        local key = ({ PRIMARY_DISPLAY_NAME = "primaryDisplayName", RISK_SCORE = "riskScore" })[args.sortKey]
        if not key then gql_error("unsupported sortKey " .. tostring(args.sortKey)) end
        local desc = args.sortOrder == "DESCENDING"
        table.sort(list, function(a, b)
            if a[key] ~= b[key] then
                if desc then return a[key] > b[key] end
                return a[key] < b[key]
            end
            return a.entityId < b.entityId
        end)
    end
    local start = 1
    if args.after ~= nil and args.after ~= json.null then
        local index = index_of(args.after)
        if not index then gql_error("invalid cursor '" .. tostring(args.after) .. "'") end
        start = index + 1
    end
    local nodes = array()
    for i = start, math.min(start + first - 1, #list) do
        nodes[#nodes + 1] = list[i]
    end
    local last_index = start + #nodes - 1
    local page = {
        nodes = nodes,
        pageInfo = {
            hasNextPage = last_index < #list,
            endCursor = #nodes > 0 and cursor_of(last_index) or json.null,
        },
    }
    return project(page, sel.selections or {})
end

function M.handle(req)
    local body = req.json
    if type(body) ~= "table" or type(body.query) ~= "string" then
        return envelope.error(400, "request body must be a JSON object with a query string")
    end
    local variables = type(body.variables) == "table" and body.variables or {}
    local ok, data = pcall(function()
        local out = {}
        for _, sel in ipairs(M.parse(body.query)) do
            if sel.fragment then gql_error("fragments are not supported at the root") end
            if sel.name == "entities" then
                out[sel.alias] = entities(sel, variables)
            elseif sel.name == "__typename" then
                out[sel.alias] = "Query"
            else
                gql_error("Cannot query field \"" .. sel.name .. "\" on type \"Query\".")
            end
        end
        return out
    end)
    if not ok then
        if type(data) == "table" and data.graphql then
            return envelope.send_json(200, { errors = array({ { message = data.message } }), data = json.null })
        end
        error(data, 0)
    end
    return envelope.send_json(200, {
        data = data,
        extensions = { runTime = 1, remainingPoints = 499999, reset = 10000, consumedPoints = 1 },
    })
end

return M
