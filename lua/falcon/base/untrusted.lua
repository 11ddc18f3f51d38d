--- Values a server sent are input. This is the one place they are read as numbers and made safe to print:
-- rate-limit budgets and waits (falcon.base.policy), paging totals (falcon.call.paginate), debug log lines
-- (falcon.client) and error texts (falcon.base.errors) all go through it.
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

-- Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  return era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
end

local function epoch(y, mo, d, h, mi, s)
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then return nil end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
end

--- Epoch seconds of an ISO 8601 time as the API writes it ("2024-03-05T10:20:30Z", with an optional
--- fraction and a Z or +hh:mm zone), or nil for anything else.
---@param value any
---@return number|nil
function untrusted.timestamp(value)
  if type(value) ~= "string" or #value > 40 then return nil end
  local y, mo, d, h, mi, s, fraction, zone =
    value:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  local t = y and #fraction ~= 1 and epoch(y, mo, d, h, mi, s)
  if not t then return nil end
  if zone ~= "Z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign or tonumber(zh) > 18 or tonumber(zm) > 59 then return nil end
    t = t - (sign == "-" and -1 or 1) * (tonumber(zh) * 3600 + tonumber(zm) * 60)
  end
  return t + (tonumber("0" .. fraction) or 0)
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
                 Nov = 11, Dec = 12 }

--- Epoch seconds of an HTTP Date header ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 7231's preferred form, the
--- one servers send), or nil.
---@param value any
---@return number|nil
function untrusted.http_date(value)
  if type(value) ~= "string" then return nil end
  local d, month, y, h, mi, s = value:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  return d and MONTHS[month] and epoch(y, MONTHS[month], d, h, mi, s) or nil
end

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
