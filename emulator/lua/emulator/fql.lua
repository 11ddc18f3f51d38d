-- Falcon Query Language: parser and evaluator.
--
--   expr      := and_expr { ',' and_expr }                  -- ',' is OR
--   and_expr  := primary { '+' primary }                     -- '+' (or blank, a decoded '+') is AND
--   primary   := '(' expr ')' | field ':' op value
--   op        := '' | '!' | '>' | '>=' | '<' | '<=' | '*'    -- equal, not equal, compare, wildcard
--   value     := 'quoted' | "quoted" | [v, v, ...] | bare    -- backslash escapes inside quotes
--
-- Semantics (documented in the emulator README part of the report):
--   * string equality is exact (case-sensitive); `:*` wildcards match case-insensitively;
--   * on list fields a condition holds when any element satisfies it; `:!` holds when none equals;
--   * dates compare as instants (ISO 8601 or relative "now-7d"); numbers numerically; strings
--     lexicographically;
--   * `_all` (kind "text") matches when any text field contains the value, case-insensitively.
-- A `fields` table describes what may be filtered: name -> { kind = "string"|"date"|"number"|"bool"|
-- "text"|"within_days", get = function(doc) -> value or list of values }. A "within_days" field (Spotlight's
-- `last_seen_within:'45'`) holds an epoch and matches when it lies within that many days before now.
local timeutil = require "emulator.timeutil"

local M = {}

-- ---------------------------------------------------------------------------------------------
-- Parser

local Parser = {}
Parser.__index = Parser

local function fail(p, message)
    error({ fql = true, message = string.format("invalid filter at position %d: %s", p.pos, message) }, 0)
end

function Parser:skip_ws()
    local _, e = self.text:find("^%s+", self.pos)
    if e then
        self.pos = e + 1
        return true
    end
    return false
end

function Parser:peek()
    return self.text:sub(self.pos, self.pos)
end

function Parser:quoted(q)
    local out = {}
    local i = self.pos + 1
    local text = self.text
    while true do
        local c = text:sub(i, i)
        if c == "" then
            fail(self, "unterminated quoted value")
        elseif c == "\\" then
            local nxt = text:sub(i + 1, i + 1)
            if nxt == "" then
                fail(self, "unterminated quoted value")
            end
            out[#out + 1] = nxt
            i = i + 2
        elseif c == q then
            self.pos = i + 1
            return table.concat(out)
        else
            out[#out + 1] = c
            i = i + 1
        end
    end
end

function Parser:value()
    self:skip_ws()
    local c = self:peek()
    if c == "'" or c == '"' then
        return { text = self:quoted(c), quoted = true }
    end
    local bare = self.text:match("^[^,+()%[%]%s'\"]+", self.pos)
    if not bare then
        fail(self, "expected a value")
    end
    self.pos = self.pos + #bare
    return { text = bare, quoted = false }
end

local OPS = { { ">=", "ge" }, { "<=", "le" }, { ">", "gt" }, { "<", "lt" }, { "!", "ne" }, { "*", "wild" } }

function Parser:condition()
    local field = self.text:match("^[%w_%.]+", self.pos)
    if not field then
        fail(self, "expected a field name")
    end
    self.pos = self.pos + #field
    self:skip_ws()
    if self:peek() ~= ":" then
        fail(self, "expected ':' after field '" .. field .. "'")
    end
    self.pos = self.pos + 1
    local op = "eq"
    for _, pair in ipairs(OPS) do
        if self.text:sub(self.pos, self.pos + #pair[1] - 1) == pair[1] then
            op = pair[2]
            self.pos = self.pos + #pair[1]
            break
        end
    end
    self:skip_ws()
    local values
    if self:peek() == "[" then
        self.pos = self.pos + 1
        values = {}
        self:skip_ws()
        if self:peek() == "]" then
            fail(self, "empty list")
        end
        while true do
            values[#values + 1] = self:value()
            self:skip_ws()
            local c = self:peek()
            if c == "]" then
                self.pos = self.pos + 1
                break
            elseif c == "," then
                self.pos = self.pos + 1
            else
                fail(self, "expected ',' or ']' in list")
            end
        end
        values.list = true
    else
        values = { self:value() }
    end
    return { kind = "cond", field = field, op = op, values = values }
end

function Parser:primary()
    self:skip_ws()
    if self:peek() == "(" then
        self.pos = self.pos + 1
        local node = self:expr()
        self:skip_ws()
        if self:peek() ~= ")" then
            fail(self, "expected ')'")
        end
        self.pos = self.pos + 1
        return node
    end
    return self:condition()
end

function Parser:and_expr()
    local items = { self:primary() }
    while true do
        local blank = self:skip_ws()
        local c = self:peek()
        if c == "+" then
            self.pos = self.pos + 1
            items[#items + 1] = self:primary()
        elseif blank and (c == "(" or c:match("[%w_]")) then
            -- A '+' that arrived unencoded in a query string was decoded to a blank.
            items[#items + 1] = self:primary()
        else
            break
        end
    end
    return #items == 1 and items[1] or { kind = "and", items = items }
end

function Parser:expr()
    local items = { self:and_expr() }
    while true do
        self:skip_ws()
        if self:peek() ~= "," then
            break
        end
        self.pos = self.pos + 1
        items[#items + 1] = self:and_expr()
    end
    return #items == 1 and items[1] or { kind = "or", items = items }
end

-- A pcall's outcome as the API answers it: the value, or nil and the message of an FQL error (raised by
-- fail); any other error is a bug and is raised again.
local function answer(ok, result)
    if ok then
        return result
    end
    if type(result) == "table" and result.fql then
        return nil, result.message
    end
    error(result, 0)
end

-- Returns the syntax tree, or nil and a message.
function M.parse(text)
    local p = setmetatable({ text = text, pos = 1 }, Parser)
    local ok, result = pcall(function()
        local node = p:expr()
        p:skip_ws()
        if p.pos <= #text then
            fail(p, "unexpected '" .. p:peek() .. "'")
        end
        return node
    end)
    return answer(ok, result)
end

-- ---------------------------------------------------------------------------------------------
-- Evaluator

local epoch_cache, epoch_cache_size = {}, 0

-- Instant of a stored date value (ISO string or epoch number); memoised, the same strings recur.
function M.epoch(value)
    if type(value) == "number" then
        return value
    end
    if value == nil then
        return nil
    end
    local t = epoch_cache[value]
    if t == nil then
        t = timeutil.parse(value) or false
        if epoch_cache_size > 200000 then
            epoch_cache, epoch_cache_size = {}, 0
        end
        epoch_cache[value] = t
        epoch_cache_size = epoch_cache_size + 1
    end
    return t or nil
end

local function glob_pattern(glob)
    local escaped = glob:lower():gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*")
    return "^" .. escaped .. "$"
end

local function as_list(v)
    if type(v) == "table" then
        return v
    end
    if v == nil then
        return {}
    end
    return { v }
end

-- A predicate true when some value of the document's field satisfies `hit` (the opposite when negated).
local function any_value(get, negate, hit)
    return function(doc)
        for _, value in ipairs(as_list(get(doc))) do
            if hit(value) then
                return not negate
            end
        end
        return negate
    end
end

local function compile_cond(node, fields)
    local def = fields[node.field]
    if not def then
        error({ fql = true, message = "invalid filter: unknown field '" .. node.field .. "'" }, 0)
    end
    local kind, get, op = def.kind, def.get, node.op
    local function bad(message)
        error({ fql = true, message = "invalid filter: " .. message .. " for field '" .. node.field .. "'" }, 0)
    end
    if node.values.list and op ~= "eq" and op ~= "ne" and op ~= "wild" then
        bad("a list is only allowed with ':', ':!' or ':*'")
    end

    if kind == "within_days" then
        local days = tonumber(node.values[1].text)
        if op ~= "eq" or node.values.list or not days or days < 0 then
            bad("a number of days with ':' expected")
        end
        local since = ngx.now() - days * 86400
        return any_value(get, false, function(value) return value >= since end)
    end

    if op == "wild" or kind == "text" then
        local patterns = {}
        for i, v in ipairs(node.values) do
            if op == "wild" then
                patterns[i] = glob_pattern(v.text)
            else
                patterns[i] = "^.*" .. glob_pattern(v.text):sub(2, -2) .. ".*$"
            end
        end
        if kind == "text" and (op == "gt" or op == "ge" or op == "lt" or op == "le") then
            bad("comparison is not supported")
        end
        return any_value(get, op == "ne", function(value)
            local s = tostring(value):lower()
            for _, pat in ipairs(patterns) do
                if s:find(pat) then
                    return true
                end
            end
            return false
        end)
    end

    -- Typed targets, converted once.
    local targets = {}
    for i, v in ipairs(node.values) do
        if kind == "date" then
            targets[i] = timeutil.parse(v.text)
            if not targets[i] then bad("invalid date '" .. v.text .. "'") end
        elseif kind == "number" then
            targets[i] = tonumber(v.text)
            if not targets[i] then bad("invalid number '" .. v.text .. "'") end
        elseif kind == "bool" then
            if v.text ~= "true" and v.text ~= "false" then bad("invalid boolean '" .. v.text .. "'") end
            targets[i] = (v.text == "true")
        else
            targets[i] = v.text
        end
    end
    local convert
    if kind == "date" then
        convert = M.epoch
    else
        convert = function(x) return x end
    end

    if op == "eq" or op == "ne" then
        return any_value(get, op == "ne", function(value)
            local x = convert(value)
            for _, t in ipairs(targets) do
                if x == t then
                    return true
                end
            end
            return false
        end)
    end

    local t = targets[1]
    if kind == "bool" then
        bad("comparison is not supported on booleans")
    end
    local cmp
    if op == "gt" then cmp = function(x) return x > t end
    elseif op == "ge" then cmp = function(x) return x >= t end
    elseif op == "lt" then cmp = function(x) return x < t end
    else cmp = function(x) return x <= t end
    end
    return any_value(get, false, function(value)
        local x = convert(value)
        return x ~= nil and type(x) == type(t) and cmp(x)
    end)
end

local function compile_node(node, fields)
    if node.kind == "cond" then
        return compile_cond(node, fields)
    end
    local preds = {}
    for i, item in ipairs(node.items) do
        preds[i] = compile_node(item, fields)
    end
    if node.kind == "and" then
        return function(doc)
            for _, p in ipairs(preds) do
                if not p(doc) then return false end
            end
            return true
        end
    end
    return function(doc)
        for _, p in ipairs(preds) do
            if p(doc) then return true end
        end
        return false
    end
end

-- Compiles a filter string into a predicate over documents, or returns nil and a message.
-- An empty or absent filter matches everything.
function M.compile(text, fields)
    if text == nil or text:match("^%s*$") then
        return function() return true end
    end
    local tree, err = M.parse(text)
    if not tree then
        return nil, err
    end
    return answer(pcall(compile_node, tree, fields))
end

-- Predicate for `q` full-text search: any text value contains `q` (case-insensitive).
function M.full_text(q, texts_of)
    if q == nil or q == "" then
        return function() return true end
    end
    local needle = q:lower()
    return function(doc)
        for _, s in ipairs(texts_of(doc)) do
            if s:lower():find(needle, 1, true) then
                return true
            end
        end
        return false
    end
end

return M
