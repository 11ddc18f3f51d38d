-- luacheck: no max line length
-- CaseAddAttachment / add_case_attachment. Unlike the seed, we pass file_name: the API needs one.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

-- A tiny PNG to upload (written next to the other temporary files).
local FILENAME = (os.getenv("TMPDIR") or "/tmp") .. "/testfile.png"
local png = "\137PNG\r\n\26\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\8\6\0\0\0\31\21\196\137\0\0\0\rIDATx\218c\248\15\0\1\1\1\0\24\221\141\176\0\0\0\0IEND\174B`\130"
local f = assert(io.open(FILENAME, "wb")); f:write(png); f:close()
local PAYLOAD = assert(io.open(FILENAME, "rb")):read("*a") -- "*a": Lua 5.1 and 5.4 alike

local mc = falcon.MessageCenter(common.options())
local case_id = common.case_ids(mc, 1)[1]
local user_uuid = common.user_uuid(mc)

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    common.print("add_case_attachment", mc:add_case_attachment{
      case_id = case_id, file_data = PAYLOAD, file_name = "testfile.png", user_uuid = user_uuid,
    })
    -- or streamed from disk, the name taken from the path
    common.print("add_case_attachment (file_path)", mc:add_case_attachment{
      case_id = case_id, file_path = FILENAME, user_uuid = user_uuid,
    })
  elseif style == "opid" then
    common.print("CaseAddAttachment", mc:CaseAddAttachment{
      case_id = case_id, file_data = PAYLOAD, file_name = "testfile.png", user_uuid = user_uuid,
    })
  else
    local uber = falcon.APIHarnessV2(common.options())
    common.print("command CaseAddAttachment", uber:command("CaseAddAttachment", {
      data = PAYLOAD, file_name = "testfile.png", case_id = case_id, user_uuid = user_uuid,
      content_type = "multipart/form-data",
    }))
    -- FalconPy's files/data form of the same upload
    common.print("command CaseAddAttachment (files)", uber:command("CaseAddAttachment", {
      files = { { "file", { "testfile.png", PAYLOAD, "image/png" } } },
      data = { case_id = case_id, user_uuid = user_uuid },
    }))
  end
end
