-- The hostile Event Streams peer's cases (the emulator's stream faults), shared by the curl multi driver's
-- spec (spec/event_stream_spec.lua) and the cosocket driver's (spec/event_stream_openresty_spec.lua).
local assert = require "luassert"

local M = {}

-- refreshActiveSessionInterval as raw JSON: none is whole seconds of at least 1 (1e15 is past what a count
-- of seconds can be).
M.bad_intervals = { "0.001", "0", "-30", "1.5", '"nan"', '"1800"', "1e999", "-1e999", "1e308", "null", "true",
                    "1000000000000000" }
-- metadata.offset as raw JSON: outside the whole numbers from 0 below 10^15 (2^53 + 1 is not exact on LuaJIT).
M.bad_offsets = { "1e308", "18446744073709551616", "1e20", "9007199254740993", "-1", "1.5", '"4"', "1e999" }
-- The partition number in a dataFeedURL.
M.bad_partitions = { "100000000000000000000", "18446744073709551616", "9007199254740993" }
-- Lines that are not events, and one longer than max_line = 1024.
M.bad_lines = { "not json", '{"metadata":{}}', "[1,2]",
                '{"metadata":{"offset":4},"pad":"' .. string.rep("x", 2000) .. '"}' }

--- The partition the error names delivered its events 1 .. n (those before the bad line) first.
function M.delivered_first(seen, err, n)
  local p = assert(tostring(err):match("partition (%d+)"), err)
  local got = {}
  for _, item in ipairs(seen) do got[item] = true end
  for offset = 1, n do assert.is_true(got[p .. ":" .. offset], ("%s:%d not delivered before: %s"):format(p, offset, err)) end
end

--- The slow_refresh case: refreshes due every 1 s (interval 2), each answered 0.8 s late. Timed from the
--- send, the emulator (`view`) sees them about 1 s apart; from the answer, 1.8 s; and no deadline missed.
M.slow_refresh = { streams = { events = 400, rate = 100, refresh_interval = 2, keepalive = 0.2, session_lifetime = 86400 },
                   faults = { { kind = "slow_refresh", seconds = 0.8 } } }
function M.refreshed_from_send(view)
  local gaps, total = 0, 0
  for _, times in ipairs(view.refreshes) do
    for i = 2, #times do gaps, total = gaps + 1, total + times[i] - times[i - 1] end
  end
  assert.is_true(gaps >= 2, gaps .. " gaps")
  assert.is_true(total / gaps < 1.4, ("refreshes %.2f s apart"):format(total / gaps))
  assert.are.equal(0, view.missed_deadlines)
end

return M
