-- Response handling: Result objects (pythonic = true): iteration, prune, and errors as exceptions.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

-- List example
local hosts = falcon.Hosts(common.options { pythonic = true })
local result = hosts:query_devices_by_filter_scroll{ limit = 5 } -- the docs take the default page (100)
-- A raw response (not the {meta, errors, resources} envelope) has `raw` set.
if not result.raw then
  for device_id in result do print(device_id) end -- FalconPy's `for device_id in result`
end
print(string.format("total %d, trace_id %s, region %s", result.total, result.trace_id, result.region))

-- List of dictionaries example
local details = hosts:get_device_details{ ids = result.data }
if not details.raw then
  for device_info in details do print(device_info.hostname) end
end

-- Pruning results example (the docs prune on "1a2b"; the emulator's ids start otherwise)
local prefix = result[1]:sub(1, 2)
local pruned = result:prune(prefix)
print("pruned on '" .. prefix .. "': " .. falcon.json.encode(pruned))
print(tostring(result))

-- Error handling example
local falcon_groups = falcon.HostGroup(common.options { pythonic = true })
local ok, api_error = pcall(function() return falcon_groups:get_host_groups("12345678901234567890123456789012") end)
if not ok and falcon.APIError.is(api_error) then
  print("This record was not found. (" .. tostring(api_error) .. ")")
elseif not ok then
  error(api_error, 0)
end
