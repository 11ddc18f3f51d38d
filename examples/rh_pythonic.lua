-- Response handling: Result objects (pythonic = true): iteration, prune, and errors as exceptions.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

-- List example (Hosts scroll, as in the seed)
local hosts = falcon.Hosts(common.options { pythonic = true })
local result = hosts:query_devices_by_filter_scroll{ limit = 5 }
if not result.raw then
  for device_id in result:iter() do print(device_id) end
end

-- List of dictionaries example. The emulator has no device details, so case details stand in.
local mc = falcon.MessageCenter(common.options { pythonic = true })
local ids = mc:query_cases{ limit = 5 }
local details = mc:get_cases{ ids = ids.data }
if not details.raw then
  for case in details:iter() do print(case.title) end
end

-- Pruning results example
local prefix = result[1] and result[1]:sub(1, 2) or "1a"
local pruned = result:prune(prefix)
print(falcon.json.encode(pruned))
print(tostring(result))

-- Error handling example: an unknown id raises falcon.APIError.
local ok, api_error = pcall(function() return mc:get_cases("12345678901234567890123456789012") end)
if not ok and falcon.APIError.is(api_error) then
  print("This record was not found. (" .. tostring(api_error) .. ")")
elseif not ok then
  error(api_error, 0)
end
