-- GetCaseEntitiesByIDs / get_cases
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local mc = falcon.MessageCenter(common.options())
local ids = common.case_ids(mc, 3)

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    local id_list = table.concat(ids, ",") -- a list works too: { "ID1", "ID2", "ID3" }
    common.print("get_cases", mc:get_cases{ ids = id_list })
    common.print("get_cases (positional)", mc:get_cases(ids))
  elseif style == "opid" then
    common.print("GetCaseEntitiesByIDs", mc:GetCaseEntitiesByIDs{ ids = table.concat(ids, ",") })
  else
    local uber = falcon.APIHarnessV2(common.options())
    common.print("command GetCaseEntitiesByIDs", uber:command("GetCaseEntitiesByIDs", { body = { ids = ids } }))
  end
end
