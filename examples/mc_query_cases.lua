-- QueryCasesIdsByFilter / query_cases
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    local mc = falcon.MessageCenter(common.options())
    common.print("query_cases", mc:query_cases{
      limit = 5, sort = "case.created_time.desc", filter = "case.status:'open'", offset = 0,
    })
  elseif style == "opid" then
    local mc = falcon.MessageCenter(common.options())
    common.print("QueryCasesIdsByFilter", mc:QueryCasesIdsByFilter{
      limit = 5, sort = "case.created_time.desc", filter = "case.status:'open'", offset = 0,
    })
  else
    local uber = falcon.APIHarnessV2(common.options())
    common.print("command QueryCasesIdsByFilter", uber:command("QueryCasesIdsByFilter", {
      limit = 5, sort = "case.created_time.desc", filter = "case.status:'open'", offset = 0,
    }))
  end
end
