-- Response handling: paginating GraphQL (IdentityProtection) with pageInfo cursors.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local IDP_QUERY = [[
query ($after: Cursor) {
  entities(types: [USER], archived: false, learned: false, first: 5, after: $after) {
    nodes {
      primaryDisplayName
      secondaryDisplayName
      accounts {
        ... on ActiveDirectoryAccountDescriptor {
          domain
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
]]
local idp = falcon.IdentityProtection(common.options())

-- The seed's loop.
local running = true
local returned_nodes = {}
local variables = nil
while running do
  print("Requesting a page of results")
  local result = idp:graphql{ query = IDP_QUERY, variables = variables }
  if result.status_code ~= 200 then
    io.stderr:write("API error, check query contents.\n")
    os.exit(1)
  end
  local entities = result.body.data and result.body.data.entities
  if not entities then
    io.stderr:write("No results returned.\n")
    os.exit(1)
  end
  if entities.nodes then
    for _, node in ipairs(entities.nodes) do returned_nodes[#returned_nodes + 1] = node end
    if entities.pageInfo.hasNextPage then
      variables = { after = entities.pageInfo.endCursor }
    else
      running = false
    end
  else
    running = false
  end
end
for _, node in ipairs(returned_nodes) do print(node.primaryDisplayName) end

-- The same with falcon.graphql_pages.
local n = 0
for _, nodes in falcon.graphql_pages(idp, IDP_QUERY) do n = n + #nodes end
print("graphql_pages(): " .. n .. " nodes")
