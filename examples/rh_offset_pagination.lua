-- Response handling: the standard envelope, and offset + total pagination.
-- The seed pages Hosts query_devices_by_filter; the emulator's offset-paged query is Message
-- Center's query_cases, so the same loop runs over cases. Then the iterator that does it for you.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local falcon_mc = falcon.MessageCenter(common.options())

-- The seed's loop, line by line.
local max_rows = 10
local total = 1
local offset = 0
local all_ids = {}
while offset < total do
  local response = falcon_mc:query_cases{ sort = "case.id.asc", limit = max_rows, offset = offset }
  if response.status_code == 200 then
    local result = response.body
    -- This API echoes the request's offset: the next page starts after what came back.
    offset = result.meta.pagination.offset + #result.resources
    total = result.meta.pagination.total
    for _, id in ipairs(result.resources) do all_ids[#all_ids + 1] = id end
  else
    for _, error_result in ipairs(response.body.errors) do print(error_result.message) end
    break
  end
end
print(string.format("loop: %d ids", #all_ids))

-- The same with the iterator: follows the pagination fields and stops exactly at the end.
local n = 0
for _ in falcon_mc:each("query_cases", { sort = "case.id.asc", limit = max_rows }) do n = n + 1 end
print(string.format("each(): %d ids", n))
