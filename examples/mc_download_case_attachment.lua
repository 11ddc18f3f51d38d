-- CaseDownloadAttachment / download_case_attachment: saves the attachment bytes to a file.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local mc = falcon.MessageCenter(common.options())
-- Attach a small file to the newest case so there is something to download.
local case_id = common.case_ids(mc, 1)[1]
local up = mc:add_case_attachment{ case_id = case_id, user_uuid = common.user_uuid(mc),
  file_data = "hello from falconlua\n", file_name = "hello.txt" }
local attachment_id = up.body.resources[1].id
local save_dir = os.getenv("TMPDIR") or "/tmp"

local function save(name, bytes)
  if type(bytes) ~= "string" then return common.print(name .. " failed", bytes) end
  local path = save_dir .. "/falconlua-" .. name .. ".txt"
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  print(string.format("%s: saved %d bytes to %s", name, #bytes, path))
end

for _, style in ipairs(common.styles { "pep8", "opid", "uber" }) do
  if style == "pep8" then
    save("download_case_attachment", mc:download_case_attachment{ id = attachment_id })
    -- positional form, and streaming straight to disk
    save("download_case_attachment-positional", mc:download_case_attachment(attachment_id))
    local r = mc:download_case_attachment{ id = attachment_id, save_to = save_dir .. "/falconlua-streamed.txt" }
    print("streamed: status " .. tostring(r.status_code))
  elseif style == "opid" then
    save("CaseDownloadAttachment", mc:CaseDownloadAttachment{ id = attachment_id })
  else
    local uber = falcon.APIHarnessV2(common.options())
    save("command-CaseDownloadAttachment", uber:command("CaseDownloadAttachment", { id = attachment_id }))
  end
end
