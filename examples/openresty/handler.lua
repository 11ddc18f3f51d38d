-- examples/openresty/handler.lua: one incoming webhook POST -> one Falcon case + one comment.
--
--   export FALCON_CLIENT_ID=... FALCON_CLIENT_SECRET=... FALCON_BASE_URL=us-2 FALCON_USER_UUID=...
--   nginx -p "$PWD/examples/openresty" -c nginx.conf -g "user $(id -un) $(id -gn);"
--   curl -s localhost:8088/webhook -d '{"title":"Suspicious login","description":"5 failures"}'
--   nginx -p "$PWD/examples/openresty" -c nginx.conf -s quit
--
-- Against the emulator (make emulator): FALCON_BASE_URL=$FALCON_EMULATOR_URL, and for its TLS port
-- FALCON_CA_BUNDLE=$FALCON_EMULATOR_CA with lua_ssl_trusted_certificate set to the same file.
-- luacheck: globals ngx
local falcon = require "falcon"
local json = require "falcon.json"

-- One service object per worker, created on the first webhook and kept: it holds the token (shared
-- with the other workers through lua_shared_dict falcon_tokens) and pooled connections.
local mc = package.loaded["falcon.example.mc"]
if not mc then
  local ca = os.getenv("FALCON_CA_BUNDLE")
  mc = falcon.MessageCenter {
    client_id = os.getenv("FALCON_CLIENT_ID"),
    client_secret = os.getenv("FALCON_CLIENT_SECRET"),
    base_url = os.getenv("FALCON_BASE_URL"),
    ca_bundle = ca ~= "" and ca or nil,
    shared_dict = "falcon_tokens",
    timeout = { 5, 20 },          -- connect, read (seconds): cosocket timeouts come from these
  }
  package.loaded["falcon.example.mc"] = mc
end

local function reply(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json.encode(body))
  return ngx.exit(status)
end

if ngx.req.get_method() ~= "POST" then return reply(405, { error = "POST an alert" }) end
ngx.req.read_body()
local ok, alert = pcall(json.decode, ngx.req.get_body_data() or "")
if not ok or type(alert) ~= "table" or type(alert.title) ~= "string" then
  return reply(400, { error = "expected a JSON object with a title" })
end

local user = os.getenv("FALCON_USER_UUID") or "00000000-0000-4000-8000-000000000001"
local detections = json.array() -- sent as [] when empty
if type(alert.detection_id) == "string" then detections[1] = { id = alert.detection_id, product = "epp" } end

-- 1. the case (create_case_v2: MessageCenter's CreateCaseV2)
local created = mc:create_case_v2 {
  title = alert.title, type = "fc:detection-support", user_uuid = user,
  content = alert.description or alert.title, detections = detections, incidents = json.array(),
}
if created.status_code ~= 200 then
  return reply(502, { error = "case not created", falcon = created.status_code, details = created.body })
end
local case_id = created.body.resources[1].id

-- 2. a comment with what the webhook received
local commented = mc:add_case_activity {
  case_id = case_id, type = "comment", user_uuid = user,
  content = "Opened by the webhook at " .. ngx.http_time(ngx.time()) .. " from " .. (ngx.var.remote_addr or "?"),
}

return reply(201, { case_id = case_id, commented = commented.status_code == 200 })
