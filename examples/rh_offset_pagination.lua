-- Response handling: the standard envelope, and offset + total pagination, as the docs page Hosts
-- query_devices_by_filter. Small pages, to show several of them; then the iterator that does it for you.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local hosts = falcon.Hosts(common.options())

-- The docs' loop, line by line.
local max_rows = 50 -- the docs use 100; smaller pages show the paging
local total = 1
local offset = 0
local all_ids = {}
while offset < total do
  local response = hosts:query_devices_by_filter{ sort = "hostname|asc", limit = max_rows, offset = offset }
  if response.status_code == 200 then
    local result = response.body
    -- The hosts API answers where the next page starts.
    offset = result.meta.pagination.offset
    total = result.meta.pagination.total
    for _, id in ipairs(result.resources) do all_ids[#all_ids + 1] = id end
    print(string.format("page: %d ids, offset now %d of %d", #result.resources, offset, total))
  else
    for _, error_result in ipairs(response.body.errors) do print(error_result.message) end
    break
  end
end
print(string.format("loop: %d ids", #all_ids))

-- The same with the iterator: follows the pagination fields and stops exactly at the end.
local n = 0
for _ in hosts:each("query_devices_by_filter", { sort = "hostname|asc", limit = max_rows }) do n = n + 1 end
print(string.format("each(): %d ids", n))
