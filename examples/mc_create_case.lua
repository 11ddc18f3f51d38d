-- luacheck: no max line length
-- CreateCase / create_case (decommissioned upstream: it still works, and warns once on stderr).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local detect_list = { { id = "ldt:0123456789abcdef0123456789abcdef:1", url = "https://falcon.crowdstrike.com/detections" } }
local incident_list = { { id = "inc:0123456789abcdef0123456789abcdef:1", url = "https://falcon.crowdstrike.com/incidents" } }

local mc = falcon.MessageCenter(common.options())
local user_uuid = common.user_uuid(mc)

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    common.print("create_case", mc:create_case{
      content = "Case body (PEP8 example)", detections = detect_list, incidents = incident_list,
      title = "falconlua create_case example", type = "fc:detection-support", user_uuid = user_uuid,
    })
  elseif style == "opid" then
    common.print("CreateCase", mc:CreateCase{
      content = "Case body (Operation ID example)", detections = detect_list, incidents = incident_list,
      title = "falconlua CreateCase example", type = "fc:detection-support", user_uuid = user_uuid,
    })
  else
    local uber = falcon.APIHarnessV2(common.options())
    -- The raw BODY payload uses the key `body`, not `content`.
    local BODY = { body = "Case body (Uber example)", detections = detect_list, incidents = incident_list,
      title = "falconlua command CreateCase example", type = "fc:detection-support", user_uuid = user_uuid }
    common.print("command CreateCase", uber:command("CreateCase", { body = BODY }))
  end
end
