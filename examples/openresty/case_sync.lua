-- examples/openresty/case_sync.lua: CrowdStrike's replies on Message Center cases, appended to a file (a
-- ticket system's stand-in) from inside nginx. Started in every worker by init_worker_by_lua (nginx.conf)
-- when FALCON_WATCH_FILE is set; one worker holds the watch's lease (lua_shared_dict falcon_watch) and
-- polls with cosockets (falcon.case_watch_nginx) while it keeps serving requests; if it dies, another
-- takes over from the checkpoint in the same shared dict. A change is acknowledged once its line is written.
-- luacheck: globals ngx
local falcon = require "falcon"
local json = require "falcon.json"

local M = {}

function M.start()
  local path = os.getenv("FALCON_WATCH_FILE")
  if not path or path == "" then return end
  local counters = ngx.shared.falcon_watch
  require("falcon.case_watch_nginx").start {
    shared_dict = "falcon_watch",
    watch = function()
      local ca = os.getenv("FALCON_CA_BUNDLE")
      local mc = falcon.MessageCenter {
        client_id = os.getenv("FALCON_CLIENT_ID"), client_secret = os.getenv("FALCON_CLIENT_SECRET"),
        base_url = os.getenv("FALCON_BASE_URL"), ca_bundle = ca ~= "" and ca or nil, shared_dict = "falcon_tokens",
      }
      counters:set("owner", ngx.worker.pid())
      return { client = mc, filter = "case.status:!'closed'",
               interval = tonumber(os.getenv("FALCON_WATCH_INTERVAL")) or 30 }
    end,
    handler = function(change)
      if change.kind ~= "activity_added" then return end
      local out = assert(io.open(path, "a"))
      assert(out:write(("%s %s reply from %s: %s\n"):format(change.at, change.case.key or change.case_id,
        change.activity.created_by.display_name, change.activity.body)))
      assert(out:close())
      counters:incr("synced", 1, 0)
    end,
  }
end

--- GET /case-sync: how many replies were synced, and by which worker (503 while none).
function M.status()
  local counters = ngx.shared.falcon_watch
  local synced = counters:get("synced") or 0
  ngx.status = synced > 0 and 200 or 503
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json.encode { synced = synced, owner = counters:get("owner") })
end

return M
