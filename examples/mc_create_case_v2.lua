-- luacheck: no max line length
-- CreateCaseV2 / create_case_v2
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local detect_list = { { id = "ldt:0123456789abcdef0123456789abcdef:1", product = "epp",
  url = "https://falcon.crowdstrike.com/detections" } }
local incident_list = { { id = "inc:0123456789abcdef0123456789abcdef:1", url = "https://falcon.crowdstrike.com/incidents" } }

local mc = falcon.MessageCenter(common.options())
local user_uuid = common.user_uuid(mc)

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    common.print("create_case_v2", mc:create_case_v2{
      content = "Case body (PEP8 example)", detections = detect_list, incidents = incident_list,
      title = "falconlua create_case_v2 example", type = "fc:detection-support", user_uuid = user_uuid,
    })
  elseif style == "opid" then
    common.print("CreateCaseV2", mc:CreateCaseV2{
      content = "Case body (Operation ID example)", detections = detect_list, incidents = incident_list,
      title = "falconlua CreateCaseV2 example", type = "fc:detection-support", user_uuid = user_uuid,
    })
  else
    local uber = falcon.APIHarnessV2(common.options())
    local BODY = { body = "Case body (Uber example)", detections = detect_list, incidents = incident_list,
      title = "falconlua command CreateCaseV2 example", type = "fc:detection-support", user_uuid = user_uuid }
    common.print("command CreateCaseV2", uber:command("CreateCaseV2", { body = BODY }))
  end
end
