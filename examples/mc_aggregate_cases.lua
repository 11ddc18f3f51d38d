-- AggregateCases / aggregate_cases: the seed's three styles (PEP8, Operation ID, Uber).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local date_ranges = {
  { from = "2021-05-15T14:55:21.892315096Z", to = "2030-05-17T13:42:16.493180643Z" },
}
local ranges = { { From = 1, To = 100 } }

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    local mc = falcon.MessageCenter(common.options())
    common.print("aggregate_cases (date_range)", mc:aggregate_cases{
      date_ranges = date_ranges, field = "case.created_time", name = "created",
      type = "date_range", time_zone = "UTC",
    })
    common.print("aggregate_cases (terms)", mc:aggregate_cases{
      field = "case.status", filter = "case.type:*'*'", min_doc_count = 0, missing = "none",
      name = "by_status", q = "", size = 10, sort = "_count|desc", type = "terms",
    })
  elseif style == "opid" then
    local mc = falcon.MessageCenter(common.options())
    common.print("AggregateCases", mc:AggregateCases{
      field = "case.created_time", interval = "month", name = "per_month", type = "date_histogram",
    })
  else
    local uber = falcon.APIHarnessV2(common.options())
    local BODY = { {
      date_ranges = date_ranges, field = "case.created_time", filter = "", name = "created",
      ranges = ranges, min_doc_count = 0, size = 0, sort = "_count|desc",
      sub_aggregates = falcon.json.array(), time_zone = "UTC", type = "date_range",
    } }
    common.print("command AggregateCases", uber:command("AggregateCases", { body = BODY }))
  end
end
