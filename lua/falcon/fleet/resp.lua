--- RESP, the protocol Redis speaks (version 2: HELLO 3 is never sent), on the SDK's side: commands out,
-- replies in, under every socket kind (falcon.fleet.redis hands in the bytes). A reply is input from a peer:
-- every line, length and count is bounded by what the SDK's own commands and scripts can be answered
-- with, numbers are read strictly, and a kind of reply the SDK never asks for is a protocol error. So a
-- peer can neither make the reader allocate more than MAX_BULK + CHUNK bytes (a length or a count is
-- checked before anything is read or allocated for it) nor make it read for ever (the caller's `more`
-- carries the round trip's one deadline).
local resp = {}

--- The longest line: a status, an error, an integer or a length (Redis's error texts are far shorter).
resp.MAX_LINE = 1024
--- The longest value: the largest the SDK stores is a sealed token entry (a token of at most 8 KiB, its
--- seal and its expiry); a checkpoint offset or a script's SHA-1 are a few dozen bytes.
resp.MAX_BULK = 16384
--- The longest array: the budget script's (4 numbers and up to 16 permits); the others are 2 long.
resp.MAX_ITEMS = 32
--- Bytes asked of the socket at a time.
resp.CHUNK = 16384

--- The status reply +OK (the only status the SDK's commands are answered with).
resp.OK = setmetatable({}, { __tostring = function() return "+OK" end })
--- A nil bulk string or a nil array (a missing key).
resp.null = setmetatable({}, { __tostring = function() return "redis.null" end })

-- An integer is exact under every VM (LuaJIT's numbers are doubles) up to 2^53.
local MAX_INTEGER = 9007199254740991

--- A command: an array of bulk strings. Numbers are written as integers when they are whole (tostring
--- would write LuaJIT's 2^53 as 9.007199254741e+15, and 5.4's 2.0 as "2.0").
function resp.encode(args, n)
  local parts = { "*" .. n .. "\r\n" }
  for i = 1, n do
    local arg = args[i]
    if type(arg) == "number" then
      arg = (arg == math.floor(arg) and math.abs(arg) <= MAX_INTEGER) and ("%d"):format(arg) or ("%.17g"):format(arg)
    else
      arg = tostring(arg)
    end
    parts[i + 1] = "$" .. #arg .. "\r\n" .. arg .. "\r\n"
  end
  return table.concat(parts)
end

local function protocol(what, text)
  return nil, "protocol error: " .. what .. (text and (" (" .. text:sub(1, 40):gsub("[%c\127-\255]", "?") .. ")") or "")
end

-- Appends the peer's next bytes to r.buffer (dropping what was read already).
local function fill(r)
  local data, err = r.more()
  if not data then return nil, err or "closed" end
  r.buffer = r.buffer:sub(r.pos) .. data
  r.pos = 1
  return true
end

-- The next line, without its CRLF.
local function line(r)
  while true do
    local cr = r.buffer:find("\r\n", r.pos, true)
    if cr then
      if cr - r.pos > resp.MAX_LINE then return protocol("a line longer than " .. resp.MAX_LINE .. " bytes") end
      local text = r.buffer:sub(r.pos, cr - 1)
      r.pos = cr + 2
      return text
    end
    if #r.buffer - r.pos > resp.MAX_LINE then return protocol("a line longer than " .. resp.MAX_LINE .. " bytes") end
    local ok, err = fill(r)
    if not ok then return nil, err end
  end
end

-- A count or length: digits only, at most `max`; "-1" is the nil reply.
local function size(text, max, what)
  if text == "-1" then return -1 end
  local n = text:match("^%d+$") and #text <= 10 and tonumber(text)
  if not n then return protocol("a " .. what .. " that is not a number", text) end
  if n > max then return protocol(("a %s of %s (at most %d)"):format(what, text, max)) end
  return n
end

local function bulk(r, text)
  local n, err = size(text, r.max_bulk, "length")
  if not n then return nil, err end
  if n < 0 then return resp.null end
  local got = #r.buffer - r.pos + 1
  if got < n + 2 then
    -- The rest in parts, joined once: a large value is not copied again at every chunk.
    local parts = { r.buffer:sub(r.pos) }
    while got < n + 2 do
      local data, more_err = r.more()
      if not data then return nil, more_err or "closed" end
      parts[#parts + 1] = data
      got = got + #data
    end
    r.buffer, r.pos = table.concat(parts), 1
  end
  local value = r.buffer:sub(r.pos, r.pos + n - 1)
  if r.buffer:sub(r.pos + n, r.pos + n + 1) ~= "\r\n" then return protocol("a value longer than its length") end
  r.pos = r.pos + n + 2
  return value
end

local function integer(text)
  local sign, digits = text:match("^(%-?)(%d+)$")
  local n = digits and #digits <= 16 and tonumber(sign .. digits)
  if not n or n > MAX_INTEGER or n < -MAX_INTEGER then return protocol("an integer out of range", text) end
  return n
end

-- One scalar reply: +OK, an integer, a bulk string. At the top (not inside an array): false and the text
-- for an error reply, or nil, the count line and true for an array.
local function scalar(r, top)
  local text, err = line(r)
  if not text then return nil, err end
  local kind, rest = text:sub(1, 1), text:sub(2)
  if kind == "$" then return bulk(r, rest) end
  if kind == ":" then return integer(rest) end
  if kind == "+" then
    if rest == "OK" then return resp.OK end
    return protocol("a status other than OK", rest)
  end
  if top and kind == "-" then return false, rest end
  if top and kind == "*" then return nil, rest, true end
  return protocol(top and "an unexpected reply" or "an array holding an error or an array", text)
end

--- Reads one reply through `more()` (the peer's next bytes, at most CHUNK; or nil and why not). Returns
--- the value: a string, an integer, resp.OK, resp.null, or an array (a list of those; never nested);
--- false and the text of an error reply; or nil and what was wrong with the peer. Bytes beyond the reply
--- are an error too: they would answer the next command. `max_bulk` (default MAX_BULK) bounds a value:
--- a link whose own values are larger (a case watch's memory) says how large.
function resp.read(more, max_bulk)
  local r = { buffer = "", pos = 1, more = more, max_bulk = max_bulk or resp.MAX_BULK }
  local value, err, array = scalar(r, true)
  if array then
    local n
    n, err = size(err, resp.MAX_ITEMS, "count")
    if not n then return nil, err end
    if n < 0 then
      value = resp.null
    else
      value = {}
      for i = 1, n do
        local item, item_err = scalar(r, false)
        if item == nil then return nil, item_err end
        value[i] = item
      end
    end
  end
  if value == nil then return nil, err end
  if r.pos <= #r.buffer then return protocol("bytes after the reply") end
  return value, err
end

return resp
