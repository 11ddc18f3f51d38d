--- The line reader of one Event Streams feed connection: bytes in pieces of any size -> events, in order.
-- A feed is newline-delimited JSON, one event per line, each with its metadata.offset; blank keep-alive
-- lines carry nothing. Every piece is read to its end before its failure is looked at, so the events
-- before a bad line are handed over first. A line that is not JSON, is longer than `max_line`, or is not
-- an event ends the reader: what the feed sends is input, and a stream that skipped a line would
-- checkpoint past an event it never delivered.
--   local reader = event_lines.new(max_line, taken)     -- taken: offset of the last event already taken
--   local ok, why = reader:feed(bytes, function(event, offset) ... end)
--   reader:close()
local checkpoint = require "falcon.streams.checkpoint"
local json = require "falcon.json"
local untrusted = require "falcon.base.untrusted"

local event_lines = {}
local Reader = {}
Reader.__index = Reader

---@param max_line integer the longest line taken, in bytes
---@param taken? number the offset of the last event already taken (an event at or before it is dropped)
function event_lines.new(max_line, taken)
  return setmetatable({ decoder = json.decoder { max_size = max_line }, taken = taken }, Reader)
end

-- The offset of a decoded line that is an event; nil, why for any other value.
local function offset_of(value)
  local metadata = type(value) == "table" and value.metadata
  local offset = type(metadata) == "table" and metadata.offset
  if offset == nil then return nil, "a line that is not an event (no metadata.offset)" end
  local whole = checkpoint.whole(offset) -- an offset no checkpoint could keep ends the feed, not the store
  if not whole then
    return nil, ("metadata.offset %s is not a whole number from 0 below 10^15"):format(
      untrusted.printable(tostring(offset):sub(1, 40)))
  end
  return whole
end

--- Feeds the next bytes; calls deliver(event, offset) for each new event (one sent again is dropped).
--- Returns true, or nil and why the feed cannot be read on (after delivering the events before it).
---@param bytes string
---@param deliver fun(event: table, offset: number)
function Reader:feed(bytes, deliver)
  local fed, fed_err = self.decoder:feed(bytes)
  while true do
    local value = self.decoder:next()
    if value == nil then break end
    local offset, why = offset_of(value)
    if not offset then return nil, why end
    if not self.taken or offset > self.taken then
      self.taken = offset
      deliver(value, offset)
    end
  end
  if not fed then return nil, fed_err end
  return true
end

--- Frees the decoder (a line cut by the connection's end dies with it).
function Reader:close() self.decoder:close() end

return event_lines
