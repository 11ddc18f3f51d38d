-- luacheck: no max line length
-- UpdateCase / update_case (decommissioned upstream: it still works, and warns once on stderr).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local detect_list = { { id = "ldt:0123456789abcdef0123456789abcdef:2", url = "https://falcon.crowdstrike.com/detections" } }
local incident_list = { { id = "inc:0123456789abcdef0123456789abcdef:2", url = "https://falcon.crowdstrike.com/incidents" } }

local mc = falcon.MessageCenter(common.options())
local case_id = common.case_ids(mc, 1)[1]

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    common.print("update_case", mc:update_case{
      content = "Updated body (PEP8 example)", detections = detect_list, id = case_id, incidents = incident_list,
    })
  elseif style == "opid" then
    common.print("UpdateCase", mc:UpdateCase{
      content = "Updated body (Operation ID example)", detections = detect_list, id = case_id, incidents = incident_list,
    })
  else
    local uber = falcon.APIHarnessV2(common.options())
    local BODY = { body = "Updated body (Uber example)", detections = detect_list, incidents = incident_list, id = case_id }
    common.print("command UpdateCase", uber:command("UpdateCase", { body = BODY }))
  end
end
