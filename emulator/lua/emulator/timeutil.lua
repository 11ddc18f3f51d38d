-- Dates: ISO 8601 parsing/formatting in UTC, relative dates ("now-7d"), fixed-offset time zones,
-- and calendar flooring for date histograms. Pure arithmetic, independent of the host's TZ.
local M = {}

local floor = math.floor

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
function M.days_from_civil(y, m, d)
    if m <= 2 then y = y - 1 end
    local era = floor(y / 400)
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = floor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end

function M.civil_from_days(z)
    z = z + 719468
    local era = floor(z / 146097)
    local doe = z - era * 146097
    local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
    local y = yoe + era * 400
    local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
    local mp = floor((5 * doy + 2) / 153)
    local d = doy - floor((153 * mp + 2) / 5) + 1
    local m = mp < 10 and mp + 3 or mp - 9
    if m <= 2 then y = y + 1 end
    return y, m, d
end

local units = { s = 1, m = 60, h = 3600, d = 86400, w = 7 * 86400, y = 365 * 86400 }

-- Parses "+02:00", "-0530", "+05", "Z", "UTC", "GMT", "Etc/UTC" into an offset in seconds.
function M.parse_offset(text)
    if text == nil or text == "" or text == "Z" or text == "UTC" or text == "GMT"
        or text == "Etc/UTC" or text == "Etc/GMT" then
        return 0
    end
    local sign, hh, mm = text:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then
        sign, hh = text:match("^([+-])(%d%d)$")
        mm = "00"
    end
    if not sign then
        return nil
    end
    local seconds = tonumber(hh) * 3600 + tonumber(mm) * 60
    if tonumber(hh) > 18 or tonumber(mm) > 59 then
        return nil
    end
    return sign == "-" and -seconds or seconds
end

-- Epoch seconds (may be fractional) of an ISO 8601 date or date-time, or of a relative date
-- "now", "now-7d", "now+2h" (units s m h d w y). Returns nil for anything else.
function M.parse(text, now)
    if type(text) ~= "string" then
        return nil
    end
    local rel_sign, rel_n, rel_unit = text:match("^now([+-])(%d+)([smhdwy])$")
    if text == "now" or rel_sign then
        local base = now or (ngx and ngx.now() or os.time())
        if not rel_sign then
            return base
        end
        local delta = tonumber(rel_n) * units[rel_unit]
        return rel_sign == "-" and base - delta or base + delta
    end
    local y, mo, d, rest = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
    if not y then
        return nil
    end
    y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
    if mo < 1 or mo > 12 or d < 1 or d > 31 then
        return nil
    end
    local h, mi, s, frac, zone = 0, 0, 0, 0, ""
    if rest ~= "" then
        local hh, mm, tail = rest:match("^[T ](%d%d):(%d%d)(.*)$")
        if not hh then
            return nil
        end
        h, mi = tonumber(hh), tonumber(mm)
        local ss, after = tail:match("^:(%d%d)(.*)$")
        if ss then
            s, tail = tonumber(ss), after
            local digits, after_frac = tail:match("^%.(%d+)(.*)$")
            if digits then
                frac = tonumber("0." .. digits)
                tail = after_frac
            end
        end
        zone = tail
        if h > 23 or mi > 59 or s > 60 then
            return nil
        end
    end
    local offset = M.parse_offset(zone)
    if not offset then
        return nil
    end
    return M.days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s + frac - offset
end

-- "2024-03-05T10:20:30Z" (whole seconds) — the format the emulator stores.
function M.format(epoch)
    return os.date("!%Y-%m-%dT%H:%M:%SZ", floor(epoch))
end

-- "2024-03-05T10:20:30.000Z" or with an offset "…+02:00", as Elasticsearch writes key_as_string.
function M.format_ms(epoch, offset)
    offset = offset or 0
    local local_t = epoch + offset
    local whole = floor(local_t)
    local ms = floor((local_t - whole) * 1000 + 0.5)
    if ms >= 1000 then whole, ms = whole + 1, 0 end
    local zone = "Z"
    if offset ~= 0 then
        local a = offset < 0 and -offset or offset
        zone = string.format("%s%02d:%02d", offset < 0 and "-" or "+", floor(a / 3600), floor(a % 3600 / 60))
    end
    return os.date("!%Y-%m-%dT%H:%M:%S", whole) .. string.format(".%03d", ms) .. zone
end

-- Start (epoch seconds) of the calendar bucket holding `epoch` in a zone `offset` seconds from UTC.
function M.floor_to(epoch, interval, offset)
    local t = epoch + offset
    local days = floor(t / 86400)
    local start
    if interval == "minute" then
        start = floor(t / 60) * 60
    elseif interval == "hour" then
        start = floor(t / 3600) * 3600
    elseif interval == "day" then
        start = days * 86400
    elseif interval == "week" then
        -- 1970-01-01 was a Thursday; weeks start on Monday as in Elasticsearch.
        start = (days - (days + 3) % 7) * 86400
    elseif interval == "month" then
        local y, m = M.civil_from_days(days)
        start = M.days_from_civil(y, m, 1) * 86400
    elseif interval == "year" then
        local y = M.civil_from_days(days)
        start = M.days_from_civil(y, 1, 1) * 86400
    else
        error("unknown interval " .. tostring(interval))
    end
    return start - offset
end

-- Start of the bucket after the one starting at `start`.
function M.next_bucket(start, interval, offset)
    if interval == "minute" then return start + 60 end
    if interval == "hour" then return start + 3600 end
    if interval == "day" then return start + 86400 end
    if interval == "week" then return start + 7 * 86400 end
    local y, m = M.civil_from_days(floor((start + offset) / 86400))
    if interval == "month" then
        m = m + 1
        if m > 12 then y, m = y + 1, 1 end
    else
        y, m = y + 1, 1
    end
    return M.days_from_civil(y, m, 1) * 86400 - offset
end

return M
