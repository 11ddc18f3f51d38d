-- CaseAddActivity / add_case_activity
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local mc = falcon.MessageCenter(common.options())
local case_id = common.case_ids(mc, 1)[1]
local user_uuid = common.user_uuid(mc)

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    common.print("add_case_activity", mc:add_case_activity{
      case_id = case_id, content = "Comment from the PEP8 example", type = "comment", user_uuid = user_uuid,
    })
  elseif style == "opid" then
    common.print("CaseAddActivity", mc:CaseAddActivity{
      case_id = case_id, content = "Comment from the Operation ID example", type = "comment", user_uuid = user_uuid,
    })
  else
    local uber = falcon.APIHarnessV2(common.options())
    -- The raw BODY payload uses the key `body`, not `content`.
    local BODY = { body = "Comment from the Uber example", case_id = case_id, type = "comment", user_uuid = user_uuid }
    common.print("command CaseAddActivity", uber:command("CaseAddActivity", { body = BODY }))
  end
end
