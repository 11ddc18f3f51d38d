-- Response handling: deep pagination with `after` tokens (Spotlight queryVulnerabilities).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local spotlight = falcon.SpotlightVulnerabilities(common.options())
local LIMIT = 40 -- the docs use 400 (1-400); smaller pages show the paging
local FILTER = "last_seen_within:'45'"
local id_list = {}
local total = 1
local position = nil
while #id_list < total do
  local returned = spotlight:query_vulnerabilities{ limit = LIMIT, filter = FILTER, after = position }
  if returned.status_code == 200 then
    local page = returned.body.meta.pagination
    total = page.total
    position = page.after
    for _, id in ipairs(returned.body.resources) do id_list[#id_list + 1] = id end
    print(string.format("Total: %d\nPosition: %s\nRetrieved so far: %d\n", total, tostring(position), #id_list))
  else
    total = 0
    for _, err in ipairs(returned.body.errors) do print(string.format("[%s] %s", err.code, err.message)) end
  end
end
print("Total IDs retrieved: " .. #id_list)

-- The iterator does the same bookkeeping.
local n = 0
for _ in spotlight:each("query_vulnerabilities", { limit = LIMIT, filter = FILTER }) do n = n + 1 end
print("each(): " .. n)
