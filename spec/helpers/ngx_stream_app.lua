-- Runs inside the 4-worker nginx of spec/event_stream_openresty_spec.lua (and of
-- case_watch_openresty_spec.lua): every worker starts falcon.event_stream_nginx from init_worker_by_lua;
-- the one holding the lease appends "pid partition offset" for each event to a file, so the spec sees who
-- delivered what.
-- luacheck: globals ngx
local cjson = require "cjson"

local M = {}

local function read_config(path)
  local f = assert(io.open(path, "rb"))
  local config = cjson.decode(f:read("*a"))
  f:close()
  return config
end

function M.start(config_path, out_path)
  local config = read_config(config_path)
  local falcon = require "falcon"
  require("falcon.event_stream_nginx").start {
    shared_dict = "falcon_streams",
    lease_ttl = 1,
    stream = function()
      local client = falcon.Client.new { client_id = config.client_id, client_secret = config.client_secret,
                                         base_url = config.url }
      return { client = client, app_id = "ngxtakeover", backoff = { initial = 0.05, max = 0.2 } }
    end,
    handler = function(event, partition)
      local out = assert(io.open(out_path, "a"))
      out:write(ngx.worker.pid(), " ", partition, " ", event.metadata.offset, "\n")
      out:close()
    end,
  }
end

-- The same for spec/case_watch_openresty_spec.lua: falcon.case_watch_nginx in every worker; the one holding
-- the lease appends "pid kind case item" for each change.
function M.start_watch(config_path, out_path)
  local config = read_config(config_path)
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
