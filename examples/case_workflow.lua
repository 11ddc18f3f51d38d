-- A realistic Message Center workflow: create a case, comment on it, attach a file, find it
-- again, page through cases, aggregate them, and download the attachment.
-- Uses Result mode (pythonic = true), so API errors raise falcon.APIError.
--   lua5.4 examples/case_workflow.lua      (FALCON_CLIENT_ID / _SECRET / FALCON_BASE_URL set)
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local mc = falcon.MessageCenter(common.options { pythonic = true })
print("base URL: " .. tostring(mc.base_url))

local ok, err = pcall(function()
  -- Who are we acting as? Take the assigner of an existing case (a real script would know).
  local newest = mc:query_cases{ limit = 1, sort = "case.created_time.desc" }
  local user_uuid = "00000000-0000-4000-8000-000000000001"
  if newest:len() > 0 then
    local existing = mc:get_cases(newest[1] or newest.data[1])
    local first = existing.data[1]
    if first and first.assigner and first.assigner.uuid then user_uuid = first.assigner.uuid end
  end

  -- 1. create
  local title = "falconlua workflow " .. os.date("!%Y-%m-%dT%H:%M:%SZ")
  local created = mc:create_case_v2{
    title = title, type = "fc:detection-support", user_uuid = user_uuid,
    content = "Investigating repeated login failures on a build host.",
    detections = { { id = "ldt:0123456789abcdef0123456789abcdef:42", product = "epp",
                     url = "https://falcon.crowdstrike.com/activity/detections" } },
    incidents = falcon.json.array(), -- no incidents: sent as [] (not {})
  }
  local case_id = created.data[1].id
  print("1. created case " .. case_id .. " (trace " .. tostring(created.trace_id) .. ")")

  -- 2. comment
  mc:add_case_activity{ case_id = case_id, type = "comment", user_uuid = user_uuid,
    content = "Collected the auth logs; attaching them." }
  print("2. commented")

  -- 3. attach (bytes from memory; file_path = "..." would stream from disk)
  local log = "2024-01-01T00:00:00Z sshd failed password for root from 198.51.100.7\n"
  local attached = mc:add_case_attachment{ case_id = case_id, user_uuid = user_uuid,
    file_data = log, file_name = "auth-log.txt" }
  local attachment = attached.data[1]
  print("3. attached " .. attachment.name .. " as " .. attachment.id)

  -- 4. find it again by title, and read its activities
  local found = mc:query_cases{ filter = "case.title:'" .. title:gsub("'", "\\'") .. "'" }
  print("4. found " .. found:len() .. " case(s) titled '" .. title .. "'")
  local activity_ids = mc:query_activities{ case_id = case_id }
  local activities = mc:get_case_activity{ ids = activity_ids.data }
  for item in activities:iter() do
    print("   activity " .. item.type .. ": " .. item.body)
  end

  -- 5. paginate: every open case id, 100 per page, with progress
  local open = 0
  for _ in mc:each("query_cases", { filter = "case.status:'open'", limit = 100 }, {
    on_page = function(_, info)
      io.write(string.format("\r5. paging: page %d, %d of %d", info.page, info.count, info.total or 0))
    end,
  }) do
    open = open + 1
  end
  print(string.format("\n   %d open cases", open))

  -- 6. aggregate: cases per status
  local agg = mc:aggregate_cases{ field = "case.status", name = "status", type = "terms", size = 10 }
  print("6. cases by status:")
  for _, b in ipairs(agg.data[1] and agg.data[1].buckets or {}) do
    print(string.format("   %-20s %d", tostring(b.label), b.count))
  end

  -- 7. download the attachment back and compare
  local bytes = mc:download_case_attachment(attachment.id)
  print("7. downloaded " .. #bytes .. " bytes: " .. (bytes == log and "identical" or "DIFFERENT"))
  if bytes ~= log then error("downloaded attachment differs from the upload") end
end)

if not ok then
  if falcon.APIError.is(err) then
    print("API error: " .. tostring(err))
  else
    print("error: " .. tostring(err))
  end
  os.exit(1)
end
print("workflow complete")
