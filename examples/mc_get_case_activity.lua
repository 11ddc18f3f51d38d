-- GetCaseActivityByIds / get_case_activity
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local mc = falcon.MessageCenter(common.options())

-- Some activity ids to look up: those of the newest cases that have any. A tenant (or an emulator) whose
-- cases have none gets a comment on its newest case first, so that there is something to look up.
local activities = {}
for _, case_id in ipairs(common.case_ids(mc, 20)) do
  activities = mc:query_activities{ case_id = case_id, limit = 3 }.body.resources
  if #activities > 0 then break end
end
if #activities == 0 then
  local case_id = common.case_ids(mc, 1)[1]
  if not case_id then -- no case at all: open one
    case_id = mc:create_case_v2{ title = "falconlua example", content = "opened by mc_get_case_activity.lua",
                                 type = "fc:contact", user_uuid = common.user_uuid(mc) }.body.resources[1].id
    print("no case at all: opened " .. case_id)
  end
  local added = mc:add_case_activity{ case_id = case_id, content = "falconlua example comment", type = "comment",
                                      user_uuid = common.user_uuid(mc) }
  print("no case had activities: commented on " .. case_id)
  activities = { added.body.resources[1].id }
end
print(("looking up %d activit%s"):format(#activities, #activities == 1 and "y" or "ies"))

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    local id_list = table.concat(activities, ",") -- 'ID1,ID2,ID3'; a list works too: { "ID1", "ID2" }
    common.print("get_case_activity", mc:get_case_activity{ ids = id_list })
  elseif style == "opid" then
    common.print("GetCaseActivityByIds", mc:GetCaseActivityByIds{ ids = activities })
  else
    local uber = falcon.APIHarnessV2(common.options())
    common.print("command GetCaseActivityByIds", uber:command("GetCaseActivityByIds", { body = { ids = activities } }))
  end
end
