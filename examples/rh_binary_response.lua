-- Response handling: binary responses, and result expansion (status_code, headers, content).
-- As the docs: SampleUploads get_sample, with the sample's SHA-256 as its id.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local samples = falcon.SampleUploads(common.options())

-- File unique identifier
local file_sha = "50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c"
-- The result is a ZIP archive when password_protected is true.
local save_file = (os.getenv("TMPDIR") or "/tmp") .. "/falconlua-api_response.zip"

-- Binary response: the bytes, as a Lua string.
local response = samples:get_sample{ password_protected = true, ids = file_sha }
local save_to = assert(io.open(save_file, "wb"))
save_to:write(response)
save_to:close()
-- control bytes shown as \N on every Lua (%q leaves them raw on 5.1 and 5.2)
local magic = response:sub(1, 4):gsub("%c", function(c) return "\\" .. c:byte() end)
print(string.format("saved %d bytes to %s (starts with \"%s\")", #response, save_file, magic))

-- Result expansion: three values instead of a tuple.
local status, headers, content = samples:get_sample{ ids = file_sha, expand_result = true }
print("Status returned: " .. tostring(status))
print("Content-Type returned: " .. tostring(headers["Content-Type"]))
print("Content length: " .. #content)

-- Or stream straight to a file, without holding the bytes in memory.
local sample_file = (os.getenv("TMPDIR") or "/tmp") .. "/falconlua-sample.bin"
local streamed = samples:get_sample{ ids = file_sha, save_to = sample_file }
print(string.format("streamed to %s: status %d, %d bytes", sample_file, streamed.status_code, streamed.saved_bytes))
