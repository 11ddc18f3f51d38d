-- luacheck: no max line length
-- Response handling: deep pagination with `_marker` timestamps (Intel QueryIntelIndicatorEntities).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local intel = falcon.Intel(common.options())
-- The seed starts at "now"; the emulator's indicators are older, so start at the beginning.
local current_page = "0"
local indicators_list = {}
local LIMIT = 100
local SORT = "_marker.asc"
local total = 1
local seen = {}
while total > 0 do
  local returned = intel:query_indicator_entities{ filter = "_marker:>='" .. current_page .. "'", limit = LIMIT, sort = SORT }
  if returned.status_code == 200 then
    local page = returned.body.meta.pagination
    total = page.total
    local fresh = 0
    for _, indicator in ipairs(returned.body.resources) do
      -- `>=` returns the boundary indicator again: keep it once
      if not seen[indicator.id] then
        seen[indicator.id] = true
        indicators_list[#indicators_list + 1] = indicator
        fresh = fresh + 1
      end
    end
    current_page = indicators_list[#indicators_list] and indicators_list[#indicators_list]._marker or ""
    print(string.format("Retrieved: %d, Remaining: %d, Marker: %s", #indicators_list, total, current_page))
    if fresh == 0 or total <= #returned.body.resources then total = 0 end
  else
    total = 0
    for _, err in ipairs(returned.body.errors) do print(string.format("[%s] %s", err.code, err.message)) end
  end
end
print("Total indicators retrieved: " .. #indicators_list)

-- The iterator handles the marker and the boundary duplicate.
local n = 0
for _ in intel:each("query_indicator_entities", { filter = "_marker:>='0'", limit = LIMIT, sort = SORT }) do n = n + 1 end
print("each(): " .. n)
