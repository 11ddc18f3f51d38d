-- Response handling: binary responses, and result expansion (status_code, headers, content).
-- The seed downloads a sample (SampleUploads get_sample); the emulator serves Message Center
-- attachments, so this example downloads one of those the same way.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local mc = falcon.MessageCenter(common.options())
local case_id = common.case_ids(mc, 1)[1]
local up = mc:add_case_attachment{ case_id = case_id, user_uuid = common.user_uuid(mc),
  file_data = "PK\3\4 pretend this is a zip", file_name = "api_response.txt" }
local attachment_id = up.body.resources[1].id
local save_file = (os.getenv("TMPDIR") or "/tmp") .. "/falconlua-api_response.txt"

-- Binary response: the bytes, as a Lua string.
local response = mc:download_case_attachment{ id = attachment_id }
local f = assert(io.open(save_file, "wb"))
f:write(response)
f:close()
print(string.format("saved %d bytes to %s", #response, save_file))

-- Result expansion: three values instead of a tuple.
local status, headers, content = mc:download_case_attachment{ id = attachment_id, expand_result = true }
print("Status returned: " .. tostring(status))
print("Content-Type returned: " .. tostring(headers["Content-Type"]))
print("Content length: " .. #content)

-- Or stream straight to the file, without holding the bytes in memory.
local streamed = mc:download_case_attachment{ id = attachment_id, save_to = save_file }
print("streamed to " .. save_file .. ": status " .. tostring(streamed.status_code))
