--- Values a server sent are input. This is the one place they are read as numbers and made safe to print:
-- rate-limit budgets and waits (falcon.policy), paging totals (falcon.paginate), debug log lines
-- (falcon.client) and error texts (falcon.errors) all go through it.
local untrusted = {}

-- Every integer of up to 15 digits is exact in a double; a longer one is not a count or a time.
local MAX_DIGITS = 15

--- A non-negative decimal number from a header or a JSON body, or nil. A string must be digits with an
-- optional fraction and nothing else: tonumber would also take a sign, an exponent ("1e309" is inf), hex,
-- and under LuaJIT "nan" and "inf". A number must be finite, and both below 10^15.
---@param value any
---@param integer? boolean true to refuse a fraction
---@return number|nil
function untrusted.number(value, integer)
  if type(value) == "number" then
    if value ~= value or value < 0 or value >= 1e15 then return nil end
    if integer and value ~= math.floor(value) then return nil end
    return value
  end
  if type(value) ~= "string" then return nil end
  -- Digits alone (every rate-limit reading of every call): one look, no captures to build.
  if #value <= MAX_DIGITS and not value:find("%D") and value ~= "" then return tonumber(value) end
  local whole, fraction = value:match("^%s*(%d+)(%.?%d*)%s*$")
  if not whole or #whole > MAX_DIGITS or #fraction > MAX_DIGITS then return nil end
  if integer and fraction:find("[1-9]") then return nil end
  return tonumber(whole .. fraction)
end

--- A non-negative whole number, or nil (see untrusted.number).
function untrusted.integer(value) return untrusted.number(value, true) end

local function hex(c) return ("\\x%02X"):format(c:byte()) end

--- `text` with every control character (ESC, CR, LF, BEL, ...), byte above 126 and backslash written as
-- \xHH, so that a value from a server can neither drive a terminal nor break a log line in two. With
-- `field` true, spaces too: a log field's value can then not forge another field.
---@param text string
---@param field? boolean
---@return string
function untrusted.printable(text, field)
  return (text:gsub(field and "[%c%s\\\127-\255]" or "[%c\\\127-\255]", hex))
end

return untrusted
