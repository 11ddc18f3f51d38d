-- GetCaseActivityByIds / get_case_activity
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local mc = falcon.MessageCenter(common.options())
-- Find some activity ids to look up: the activities of the newest case.
local case_id = common.case_ids(mc, 1)[1]
local activities = mc:query_activities{ case_id = case_id, limit = 3 }.body.resources

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    local id_list = table.concat(activities, ",") -- a list works too: { "ID1", "ID2" }
    common.print("get_case_activity", mc:get_case_activity{ ids = id_list })
  elseif style == "opid" then
    common.print("GetCaseActivityByIds", mc:GetCaseActivityByIds{ ids = activities })
  else
    local uber = falcon.APIHarnessV2(common.options())
    common.print("command GetCaseActivityByIds", uber:command("GetCaseActivityByIds", { body = { ids = activities } }))
  end
end
