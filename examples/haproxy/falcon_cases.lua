-- Loaded by HAProxy's `lua-load` (haproxy.cfg). A task registered here sweeps the open Message Center
-- cases every FALCON_SWEEP_SECONDS (default 60) with the blocking libcurl driver; between sweeps it
-- sleeps with core.msleep, which yields to HAProxy. The `falcon_cases` service answers from the last
-- sweep and never calls the API on a request's path. Credentials come from the environment.
local falcon = require "falcon"
local json = require "falcon.json"

local last = { sweeps = 0 } -- the task writes it, the service reads it (one Lua state, one thread)

local function sweep(mc)
  local open, pages = 0, 0
  local ok, err = pcall(function()
    for page in mc:pages("query_cases", { filter = "case.status:'open'", limit = 500 }) do
      if page.status_code ~= 200 then error(page.body and page.body.errors or page.status_code, 0) end
      pages = pages + 1
      open = open + #page.body.resources
    end
  end)
  last = { sweeps = last.sweeps + 1, open_cases = ok and open or nil, pages = pages, at = os.time(),
           error = not ok and json.encode(err) or nil }
end

core.register_task(function()
  local mc = falcon.MessageCenter {
    client_id = os.getenv("FALCON_CLIENT_ID"),
    client_secret = os.getenv("FALCON_CLIENT_SECRET"),
    base_url = os.getenv("FALCON_BASE_URL") or "us1",
    -- short limits: while a call waits, this HAProxy thread serves nothing else
    connect_timeout = 2, read_timeout = 5, max_retries = 1,
  }
  local every = tonumber(os.getenv("FALCON_SWEEP_SECONDS")) or 60
  while true do
    sweep(mc)
    core.msleep(math.floor(every * 1000))
  end
end)

core.register_service("falcon_cases", "http", function(applet)
  local body = json.encode(last)
  applet:set_status(200)
  applet:add_header("content-type", "application/json")
  applet:add_header("content-length", tostring(#body))
  applet:start_response()
  applet:send(body)
end)
