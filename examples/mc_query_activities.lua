-- luacheck: no max line length
-- QueryActivityByCaseID / query_activities
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local mc = falcon.MessageCenter(common.options())
local case_id = common.case_ids(mc, 1)[1]

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    common.print("query_activities", mc:query_activities{
      case_id = case_id, limit = 10, sort = "activity.created_time.desc", filter = "activity.type:'comment'", offset = 0,
    })
  elseif style == "opid" then
    common.print("QueryActivityByCaseID", mc:QueryActivityByCaseID{
      case_id = case_id, limit = 10, sort = "activity.created_time.desc", filter = "activity.type:'comment'", offset = 0,
    })
  else
    local uber = falcon.APIHarnessV2(common.options())
    common.print("command QueryActivityByCaseID", uber:command("QueryActivityByCaseID", {
      case_id = case_id, limit = 10, sort = "activity.created_time.desc", filter = "activity.type:'comment'", offset = 0,
    }))
  end
end
