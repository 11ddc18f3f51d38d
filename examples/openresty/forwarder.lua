-- examples/openresty/forwarder.lua: Event Streams detections -> Message Center cases, inside nginx.
-- Started in every worker by init_worker_by_lua (nginx.conf) when FALCON_STREAM_APP_ID is set; one worker
-- holds the stream's lease and reads it with cosockets (falcon.event_stream_nginx), another takes over from
-- the checkpoint (lua_shared_dict falcon_streams) if it dies. A detection of severity 4 or more becomes a
-- case; a case that cannot be opened stops the stream before that detection is acknowledged, so it is
-- tried again (after lease_ttl) rather than lost.
-- luacheck: globals ngx
local falcon = require "falcon"
local json = require "falcon.json"

local M = {}

local SEVERITY = 4 -- High and Critical

function M.start()
  local app_id = os.getenv("FALCON_STREAM_APP_ID")
  if not app_id or app_id == "" then return end
  local counters = ngx.shared.falcon_streams
  local user = os.getenv("FALCON_USER_UUID") or "00000000-0000-4000-8000-000000000001"
  local mc
  require("falcon.event_stream_nginx").start {
    shared_dict = "falcon_streams",
    stream = function()
      local ca = os.getenv("FALCON_CA_BUNDLE")
      mc = falcon.MessageCenter {
        client_id = os.getenv("FALCON_CLIENT_ID"), client_secret = os.getenv("FALCON_CLIENT_SECRET"),
        base_url = os.getenv("FALCON_BASE_URL"), ca_bundle = ca ~= "" and ca or nil, shared_dict = "falcon_tokens",
      }
      counters:set("owner", ngx.worker.pid())
      return { client = mc, app_id = app_id, event_types = { "DetectionSummaryEvent" } }
    end,
    handler = function(event)
      local detection = event.event
      if (tonumber(detection.Severity) or 0) < SEVERITY then return end
      local created = mc:create_case_v2 {
        title = ("Detection %s on %s"):format(tostring(detection.DetectId), tostring(detection.ComputerName)),
        type = "fc:detection-support", user_uuid = user,
        content = tostring(detection.Description or detection.DetectId),
        detections = { { id = tostring(detection.DetectId), product = "epp" } }, incidents = json.array(),
      }
      if created.status_code ~= 200 then
        error(("case for %s not opened: %d"):format(tostring(detection.DetectId), created.status_code))
      end
      counters:incr("forwarded", 1, 0)
    end,
  }
end

--- GET /forwarder: how many cases were opened, and by which worker (503 while none).
function M.status()
  local counters = ngx.shared.falcon_streams
  local forwarded = counters:get("forwarded") or 0
  ngx.status = forwarded > 0 and 200 or 503
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json.encode { forwarded = forwarded, owner = counters:get("owner") })
end

return M
