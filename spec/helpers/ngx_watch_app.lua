-- Runs inside the 4-worker nginx of spec/case_watch_openresty_spec.lua: every worker starts
-- falcon.case_watch_nginx from init_worker_by_lua; the one holding the lease appends "pid kind case item"
-- for each change to a file, so the spec sees who handed over what.
-- luacheck: globals ngx
local cjson = require "cjson"

local M = {}

function M.start(config_path, out_path)
  local f = assert(io.open(config_path, "rb"))
  local config = cjson.decode(f:read("*a"))
  f:close()
  local falcon = require "falcon"
  require("falcon.case_watch_nginx").start {
    shared_dict = "falcon_watch",
    lease_ttl = 1,
    watch = function()
      local mc = falcon.MessageCenter { client_id = config.client_id, client_secret = config.client_secret,
                                        base_url = config.url }
      return { client = mc, interval = 0.05, settle = 1, sweep = false }
    end,
    handler = function(change)
      local item = change.activity or change.attachment
      local out = assert(io.open(out_path, "a"))
      out:write(ngx.worker.pid(), " ", change.kind, " ", change.case_id, " ", item and item.id or "-", "\n")
      out:close()
    end,
  }
end

return M
