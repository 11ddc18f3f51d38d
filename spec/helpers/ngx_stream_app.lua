-- Runs inside the nginx of spec/event_stream_openresty_spec.lua (and of case_watch_openresty_spec.lua).
-- M.start: in the 4-worker nginx, every worker starts falcon.streams.nginx from init_worker_by_lua;
-- the one holding the lease appends "pid partition offset" for each event to a file, so the spec sees who
-- delivered what. M.start_watch: the same for falcon.watch.nginx.
-- M.read: a request handler reading one stream against the emulator's stream faults (cosocket driver).
-- luacheck: globals ngx
local cjson = require "cjson"

local M = {}

local function read_config(path)
  local f = assert(io.open(path, "rb"))
  local config = cjson.decode(f:read("*a"))
  f:close()
  return config
end

function M.start(config_path, out_path, lease_ttl)
  local config = read_config(config_path)
  local falcon = require "falcon"
  require("falcon.streams.nginx").start {
    shared_dict = "falcon_streams",
    lease_ttl = lease_ttl or 1,
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

-- The same for spec/case_watch_openresty_spec.lua: falcon.watch.nginx in every worker; the one holding
-- the lease appends "pid kind case item" for each change.
function M.start_watch(config_path, out_path)
  local config = read_config(config_path)
  local falcon = require "falcon"
  require("falcon.watch.nginx").start {
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

-- Takes up to `take` events (or, with `stop`, one: then stops and asks again); what it was handed.
local function take_events(stream, take, stop)
  local seen, after_stop, queued = {}, nil, nil
  local next_event = stream:events()
  local ok, err = pcall(function()
    for event, partition in next_event do
      seen[#seen + 1] = partition .. ":" .. tostring(event.metadata.offset)
      if stop then
        queued = stream:_queued()
        stream:stop()
        local again = next_event()
        after_stop = again and again.metadata.offset
        break
      end
      if #seen == take then break end
    end
  end)
  return { events = seen, error = not ok and tostring(err) or nil, queued = queued, after_stop = after_stop }
end

--- GET /read?app=A&take=N[&tls=1][&stop=1][&max_line=bytes][&checkpoint=path][&initial=s&max=s] -> JSON {events
--- ("partition:offset"), error, queued and after_stop (with stop), stats, driver}.
function M.read(config_path)
  local config = read_config(config_path)
  local args = ngx.req.get_uri_args()
  local falcon = require "falcon"
  local tls = args.tls == "1"
  local client = falcon.Client.new { client_id = config.client_id, client_secret = config.client_secret,
                                     base_url = tls and config.tls_url or config.url, ca_bundle = tls and config.ca or nil }
  local stream = falcon.EventStream { client = client, app_id = args.app, max_line = tonumber(args.max_line),
    checkpoint = args.checkpoint,
    backoff = { initial = tonumber(args.initial) or 0.05, max = tonumber(args.max) or 0.2 } }
  local result = take_events(stream, tonumber(args.take), args.stop == "1")
  stream:stop()
  client:close()
  result.stats, result.driver = stream.stats, require("falcon.drivers").current().name
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(result))
end

return M
