--- falcon.EventStream: the Event Streams API read as one ordered, resumable feed per partition.
--   local stream = falcon.EventStream { client = mc, app_id = "siem1", checkpoint = "stream.ckpt" }
--   for event, partition in stream:events() do ... end   -- the previous event is acknowledged when the
--                                                        -- loop asks for the next one (or stream:ack())
--   stream:run(function(event, partition) ... end)       -- the same, as a callback
--   stream:stop()
--
-- How delivery stays exactly-once: each partition's feed is read from the offset after the last event
-- taken from it (an event the server sends twice is dropped, a half line dies with its connection), and
-- the checkpoint store keeps the last offset the application acknowledged, so a new process resumes with
-- the event after it. A cut connection, a 5xx, a transport failure or a clean end reconnects after a
-- bounded backoff with jitter; a 401 (the session expired or missed its refresh) discovers again for new
-- session tokens. What the API refuses for good (bad credentials, a missing scope, an app id in use, a bad
-- app id) ends the stream with an error naming it. What the API sends is input: a feed's lines are read
-- by falcon.streams.lines, a discovery's resources by take_session, a checkpoint read back by _load.
--
-- Concurrency: every partition's feed and every session refresh is a task of the driver (falcon.drivers):
-- in plain Lua coroutines on one curl multi handle, moved while the application waits for the next event,
-- so a refresh goes out while the feeds are in flight; inside nginx ngx light threads over cosockets
-- (falcon.streams.nginx runs one stream per nginx, in one worker). Tasks wait on the driver's queues,
-- woken by whoever changes what they wait for (an event queued or taken, a discovery, a lease, stop()), or
-- for a time (a backoff, a refresh, a lease renewal). The application's own code runs between events: a
-- refresh is due every refreshActiveSessionInterval / 2, and a loop body that outlasts the whole interval
-- costs a re-discovery, never an event.
local checkpoint = require "falcon.streams.checkpoint"
local Client = require "falcon.client"
local compat = require "falcon.base.compat"
local driver = require "falcon.drivers"
local errors = require "falcon.base.errors"
local event_lines = require "falcon.streams.lines"
local leases = require "falcon.streams.leases"
local options = require "falcon.base.options"
local policy = require "falcon.base.policy"
local untrusted = require "falcon.base.untrusted"

local EventStream = {}
EventStream.__index = EventStream

local DISCOVERY = "/sensors/entities/datafeed/v2"
local OPTIONS = {
  client = "service, Uber or falcon.Client object", app_id = "1-32 letters and digits", start = "start",
  event_types = "list of event type names", exclude_event_types = "list of event type names",
  checkpoint = "checkpoint", max_line = "bytes", queue = "events", backoff = "{initial = s, max = s}",
  coordination = "coordination", lease = "{ttl = s, owner = name}",
}
-- Every key the constructor takes: the stream's own, and a client's (when no `client` is given).
local KNOWN = {}
for key in pairs(OPTIONS) do KNOWN[key] = true end
for key in pairs(options.schema) do KNOWN[key] = true end
for key in pairs(options.refused) do KNOWN[key] = true end
local FATAL = { [400] = "the request was refused", [401] = "the credentials were refused",
                [403] = "the API client lacks the Event streams read scope (streaming:read)",
                [404] = "the Event Streams API is not there", [409] = "the app id is in use by another consumer" }

local function bad(name, expected, got)
  errors.bad_option("EventStream", name, ("%s expected, got %s"):format(expected, tostring(got)))
end

local function names_list(name, value)
  if value == nil then return nil end
  if type(value) ~= "table" or #value == 0 then bad(name, "non-empty list of event type names", type(value)) end
  local set = {}
  for i, v in ipairs(value) do
    if type(v) ~= "string" or not v:match("^%w+$") then bad(name, "event type names", "item " .. i) end
    set[v] = true
  end
  return set
end

local function check_start(start)
  if start == nil or start == "earliest" or start == "latest" then return start or "earliest" end
  if type(start) ~= "table" then bad("start", "'earliest', 'latest' or {[partition] = offset}", start) end
  for partition, offset in pairs(start) do
    if not checkpoint.whole(partition) or not checkpoint.whole(offset) then
      bad("start", "{[partition] = offset} with whole numbers from 0 below 10^15", "a bad entry")
    end
  end
  return start
end

--- Makes a stream (nothing is sent until the first event is asked for). Options: client (or the
--- credentials of falcon.Client), app_id, start ("earliest", "latest" or {[partition] = offset}: where a
--- partition without a checkpoint begins), event_types (sent as eventType=), exclude_event_types,
--- checkpoint (a file path, a falcon.checkpoint store, or nil for memory only), max_line (bytes, default
--- 1 MiB), queue (events decoded ahead of the application, default 1000), backoff {initial, max},
--- coordination (falcon.fleet's table: partitions read under Redis leases, checkpoints in Redis; the
--- client's, when it has one) and lease {ttl = seconds, owner = name} (falcon.streams.leases).
function EventStream.new(opts)
  if type(opts) ~= "table" then bad("options", "table", type(opts)) end
  options.check_keys("EventStream", opts, KNOWN)
  local engine_opts = {}
  for key, value in pairs(opts) do
    if not OPTIONS[key] then engine_opts[key] = value end
  end
  local self = setmetatable({}, EventStream)
  if opts.client ~= nil then
    if next(engine_opts) ~= nil then
      bad(next(engine_opts), "no credentials with 'client' (the client keeps its own)", "a value")
    end
    local client = type(opts.client) == "table" and (rawget(opts.client, "_client") or opts.client)
    if not client or type(client.request) ~= "function" then bad("client", OPTIONS.client, type(opts.client)) end
    self.client = client
  else
    engine_opts.coordination = opts.coordination -- the stream's client shares the fleet's token and budget too
    self.client = Client.new(engine_opts)
  end
  if type(opts.app_id) ~= "string" or not opts.app_id:match("^%w+$") or #opts.app_id > 32 then
    bad("app_id", OPTIONS.app_id, opts.app_id)
  end
  self.app_id = opts.app_id
  self.start = check_start(opts.start)
  self.event_types = names_list("event_types", opts.event_types)
  self.exclude = names_list("exclude_event_types", opts.exclude_event_types)
  -- With coordination (given, or the client's), partitions are read under Redis leases and checkpointed there.
  local coordination = opts.coordination or (self.client.fleet and self.client.fleet.conf)
  if coordination then
    if opts.checkpoint ~= nil then bad("checkpoint", "none with coordination (checkpoints are kept in Redis)", "one") end
    self.leases = leases.new(coordination, self.app_id, opts.lease)
  elseif opts.lease ~= nil then
    bad("lease", "no lease without coordination", type(opts.lease))
  end
  self.store = checkpoint.from(opts.checkpoint)
  self.max_line = opts.max_line or 1024 * 1024
  if type(self.max_line) ~= "number" or self.max_line < 1024 then bad("max_line", "bytes >= 1024", opts.max_line) end
  self.queue_max = opts.queue or 1000
  if type(self.queue_max) ~= "number" or self.queue_max < 1 then bad("queue", "events >= 1", opts.queue) end
  if opts.backoff ~= nil and type(opts.backoff) ~= "table" then bad("backoff", OPTIONS.backoff, type(opts.backoff)) end
  local backoff = options.check_keys("EventStream", opts.backoff, { initial = true, max = true }, "backoff.")
  self.backoff_initial, self.backoff_max = backoff.initial or 0.5, backoff.max or 30
  self.queue, self.first, self.last = {}, 1, 0
  self.taken = {}      -- partition -> offset of the last event taken off its feed
  self.acked = {}      -- partition -> offset of the last event the application acknowledged
  self.sessions = {}   -- partition -> {token, origin, path, query, refresh_path, refresh_query, interval, refresh_at}
  self.generation = 0  -- discoveries so far
  self.random = math.random
  --- Counters for monitoring: events delivered, reconnects, discoveries, refreshes.
  self.stats = { delivered = 0, reconnects = 0, discoveries = 0, refreshes = 0 }
  return self
end

-- ---- tasks and what they wait for ------------------------------------------------------------------

-- Starts fn as a task of the stream (on the driver running the code now): an error it raises ends the
-- stream with that error. Tasks still running when the stream stops are cancelled.
function EventStream:_spawn(fn)
  local key = {}
  self.tasks[key] = true
  local task = driver.current().spawn(function()
    local ok, err = compat.pcall(fn)
    if not ok then self:_fail(tostring(err)) end
    self.tasks[key] = nil
  end)
  if self.tasks[key] then self.tasks[key] = task end
end

-- Wakes every wait: a stream that stops or fails ends them all.
function EventStream:_wake_all()
  if not self.arrived then return end
  for _, queue in ipairs { self.arrived, self.room, self.changed, self.stopping } do queue.release() end
end

-- Waits `seconds` (a backoff, a lease's next look), or less when the stream stops.
function EventStream:_nap(seconds)
  if not self.stopped then self.stopping.wait(self.driver.now() + seconds) end
end

function EventStream:_ended() return self.stopped or self.failure ~= nil end

-- ---- discovery and sessions ------------------------------------------------------------------------

-- "https://host:port/path?a=b&c=d" -> origin, path, {{a, b}, {c, d}}
local function split_url(url)
  local origin, path, query = tostring(url):match("^(https?://[^/?#]+)(/[^?#]*)%??([^#]*)$")
  if not origin then return nil end
  local pairs_list = {}
  for part in query:gmatch("[^&]+") do
    local name, value = part:match("^([^=]*)=?(.*)$")
    local function unescape(s) return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)) end
    pairs_list[#pairs_list + 1] = { unescape(name), unescape(value) }
  end
  return origin, path, pairs_list
end

local function api_message(response)
  local body = response.body
  local first = type(body) == "table" and type(body.errors) == "table" and body.errors[1]
  if type(first) == "table" and first.message then return tostring(first.message) end
  if response.transport_error then return response.transport_error.message end
  return "HTTP " .. tostring(response.status_code)
end

function EventStream:_fail(message)
  if not self.failure then self.failure = errors.message("EventStream", message) end
  self:_wake_all()
end

function EventStream:_backoff(failures)
  return policy.backoff(self.backoff_initial, self.backoff_max, failures, self.random)
end

-- Session refresh intervals taken, in whole seconds. Below the floor nothing can be honoured (the API
-- documents an integer count of seconds, and a smaller one would refresh in a storm); above the ceiling,
-- refreshing at the ceiling is sooner than asked, which is always safe.
local MIN_INTERVAL, MAX_INTERVAL = 1, 86400
-- Each partition is a connection and two tasks: a discovery naming more is not one to follow.
local MAX_PARTITIONS = 256

local function shown(value) return untrusted.printable(tostring(value):sub(1, 80)) end

-- Reads one discovery resource into a session (timed from `sent`, when the discovery went out); nil, why
-- for a resource that is not what the API documents. After a discovery over TLS, no URL without it is
-- taken: the session token (feeds) and the bearer token (refreshes) never go out in clear text.
local function take_session(r, sent, tls)
  if type(r) ~= "table" then return nil, "discovery answered a resource that is not an object" end
  local origin, path, query = split_url(r.dataFeedURL)
  local partition = path and checkpoint.whole(tonumber(path:match("/(%d+)$")))
  if not partition then
    return nil, "discovery answered a dataFeedURL without a partition number below 10^15: " .. shown(r.dataFeedURL)
  end
  local r_origin, r_path, r_query = split_url(r.refreshActiveSessionURL)
  local token = type(r.sessionToken) == "table" and r.sessionToken.token
  if type(token) ~= "string" or not r_origin then
    return nil, "discovery answered a resource without sessionToken or refreshActiveSessionURL"
  end
  for _, url in ipairs { { "dataFeedURL", origin }, { "refreshActiveSessionURL", r_origin } } do
    if tls and not url[2]:match("^https://") then
      return nil, ("discovery over TLS answered a %s without TLS (%s): a token is never sent in clear text")
        :format(url[1], shown(url[2]))
    end
  end
  local interval = untrusted.integer(type(r.refreshActiveSessionInterval) == "number" and r.refreshActiveSessionInterval)
  if not interval or interval < MIN_INTERVAL then
    return nil, ("discovery answered refreshActiveSessionInterval %s: whole seconds of at least %d expected")
      :format(shown(r.refreshActiveSessionInterval), MIN_INTERVAL)
  end
  interval = math.min(interval, MAX_INTERVAL)
  return partition, { token = token, origin = origin, path = path, query = query, refresh_path = r_path,
                      refresh_query = r_query, interval = interval, refresh_at = sent + interval / 2 }
end

-- Reads one discovery answer into sessions; nil, why for an answer that is not what the API documents.
local function take_sessions(response, sent, tls)
  local resources = type(response.body) == "table" and response.body.resources
  if type(resources) ~= "table" or #resources == 0 then return nil, "discovery answered no partitions" end
  if #resources > MAX_PARTITIONS then
    return nil, ("discovery answered %d partitions (at most %d are read)"):format(#resources, MAX_PARTITIONS)
  end
  local sessions = {}
  for _, r in ipairs(resources) do
    local partition, session = take_session(r, sent, tls)
    if not partition then return nil, session end
    sessions[partition] = session
  end
  return sessions
end

-- Discovers (again), unless another task already did since `seen_generation` (a discovery under way
-- is waited for: `changed` is released when it ends).
function EventStream:_discover(seen_generation)
  while self.discovering and not self:_ended() do self.changed.wait(math.huge) end
  if self:_ended() then return false end
  if self.generation ~= seen_generation then return true end
  self.discovering = true
  local failures = 0
  while not self:_ended() do
    local sent, tls = self.driver.now(), self.client:base_url():match("^https://") ~= nil
    local response = self.client:request { method = "GET", route = DISCOVERY,
                                           query = { { "appId", self.app_id }, { "format", "json" } } }
    local status = response.status_code
    if status == 200 and not response.transport_error then
      local sessions, why = take_sessions(response, sent, tls)
      if not sessions then self:_fail(why) break end
      self.sessions = sessions
      self.generation = self.generation + 1
      self.stats.discoveries = self.stats.discoveries + 1
      break
    elseif response.token_error and not response.transport_error then
      self:_fail(("discovery for app id '%s' refused: the credentials were refused: %s"):format(self.app_id,
        api_message(response)))
      break
    elseif FATAL[status] and not response.transport_error then
      self:_fail(("discovery for app id '%s' refused (%d, %s): %s"):format(self.app_id, status, FATAL[status],
        api_message(response)))
      break
    end
    failures = failures + 1
    self:_nap(self:_backoff(failures))
  end
  self.discovering = false
  self.changed.release()
  return not self:_ended()
end

-- ---- the feed of one partition ---------------------------------------------------------------------

function EventStream:_queued() return self.last - self.first + 1 end

-- Takes a new event off partition p's feed (falcon.streams.lines has checked it and its offset).
function EventStream:_accept(p, event, offset, held)
  self.taken[p] = offset
  if self.exclude and self.exclude[event.metadata.eventType] then return end
  self.last = self.last + 1
  self.queue[self.last] = { event = event, partition = p, offset = offset, held = held }
  self.arrived.release()
end

-- Where partition p's next connection starts: after the last event taken, the checkpoint, or `start`.
function EventStream:_position(p, query)
  local taken = self.taken[p]
  if taken then query[#query + 1] = { "offset", taken + 1 }
  elseif type(self.start) == "table" and self.start[p] then query[#query + 1] = { "offset", self.start[p] }
  elseif self.start == "latest" then query[#query + 1] = { "whence", 2 } end
  if self.event_types then
    local names = {}
    for name in pairs(self.event_types) do names[#names + 1] = name end
    table.sort(names)
    query[#query + 1] = { "eventType", table.concat(names, ",") }
  end
end

function EventStream:_core_for(origin)
  self.cores = self.cores or {}
  local c = self.cores[origin]
  if not c then
    c = origin == self.client:base_url() and self.client.core or self.client._core_for(origin)
    self.cores[origin] = c
  end
  return c
end

-- One connection to partition p's feed. Returns what became of it: "ended", "paused" (the queue is
-- full), "stopped", "unauthorized", "retry", or "fatal", why; and how many lines it brought.
function EventStream:_connect(p, session, held)
  local reader = event_lines.new(self.max_line, self.taken[p])
  local lines, why, paused = 0, nil, false
  local function deliver(event, offset)
    self:_accept(p, event, offset, held)
    lines = lines + 1
  end
  local function on_data(chunk)
    if self:_ended() or held and not self.leases:valid(p, held, self.driver.now()) then return false end
    local ok, err = reader:feed(chunk, deliver)
    if not ok then why = err return false end
    if self:_queued() >= self.queue_max then paused = true return false end
    return true
  end
  local query = {}
  for i, pair in ipairs(session.query) do query[i] = pair end
  self:_position(p, query)
  local status, headers, body = driver.current().exchange(self:_core_for(session.origin), "api", {
    method = "GET", route = session.path, query = query, auth = "none", on_data = on_data,
    headers = { Authorization = "Token " .. session.token, Accept = "application/json" },
  })
  reader:close()
  if self.stopped then return "stopped", lines end
  if why then return "fatal", lines, ("partition %d: %s"):format(p, why) end
  if paused then return "paused", lines end
  if status == nil then return "retry", lines end -- cut, reset, stalled: headers is the transport error
  if status >= 200 and status < 300 then return "ended", lines end
  if status == 401 then return "unauthorized", lines end
  if status == 429 or status >= 500 then return "retry", lines end
  local message = headers and type(body) == "string" and body:sub(1, 200) or ""
  return "fatal", lines, ("partition %d: the feed answered %d %s"):format(p, status, message)
end

-- Reads partition p until the stream stops (or, under a lease `held`, until it is no longer valid).
function EventStream:_feed_task(p, held)
  local failures = 0
  local function reading() return not held or self.leases:valid(p, held, self.driver.now()) end
  while not self:_ended() and reading() do
    -- A full queue: the application takes an event (or the lease runs out) before the feed reads on.
    while self:_queued() >= self.queue_max and not self:_ended() and reading() do
      self.room.wait(held and held.valid_until or math.huge)
    end
    local session = self.sessions[p]
    local generation = self.generation
    local outcome, lines, why = self:_connect(p, session, held)
    if lines > 0 then failures = 0 end
    if outcome == "stopped" then return end
    if outcome == "fatal" then self:_fail(why) return end
    if outcome ~= "paused" then self.stats.reconnects = self.stats.reconnects + 1 end
    if outcome == "unauthorized" then
      failures = failures + 1
      if failures > 1 then self:_nap(self:_backoff(failures - 1)) end
      if not self:_discover(generation) then return end
      if not self.sessions[p] then self:_fail(("partition %d is no longer offered"):format(p)) return end
    elseif (outcome == "retry" or outcome == "ended") and reading() then
      -- A clean end (even at once: a 200 with no body) is a reconnect like any other.
      failures = failures + 1
      self:_nap(self:_backoff(failures))
    end
  end
end

-- Refreshes partition p's session at half its interval, timed from each refresh's send (the API's deadline
-- runs from when it got it, however late it answers); a refused refresh is tried again after a backoff
-- kept well inside the interval (a session that died anyway ends its feed with a 401, and the feed
-- discovers again). It waits on `changed` for its time: a discovery (new sessions), a lease taken, or
-- stop() wakes it sooner.
function EventStream:_refresh_task(p)
  local failures = 0
  while not self:_ended() do
    local session = self.sessions[p]
    local now = self.driver.now()
    if not session or self.leases and not self.leases.held[p] then -- not (or another consumer's) partition
      self.changed.wait(math.huge)
    elseif now < session.refresh_at then
      self.changed.wait(session.refresh_at)
    else
      local sent = now
      local response = self.client:request { method = "POST", route = session.refresh_path,
                                             query = session.refresh_query }
      local status = response.status_code
      if status and status >= 200 and status < 300 and not response.transport_error then
        failures = 0
        session.refresh_at = sent + session.interval / 2
        self.stats.refreshes = self.stats.refreshes + 1
      else
        failures = failures + 1
        session.refresh_at = self.driver.now() + math.min(self:_backoff(failures), session.interval / 10)
      end
    end
  end
end

-- The checkpoint store's offsets: read back, they are input too (a file, a shared dict, your own store).
function EventStream:_load()
  local saved, err = self.store.load()
  if type(saved) ~= "table" then errors.raise("EventStream", "the checkpoint was not read: %s", tostring(err)) end
  for partition, offset in pairs(saved) do
    if not checkpoint.whole(partition) or not checkpoint.whole(offset) then
      errors.raise("EventStream", "the checkpoint store gave partition %s offset %s: whole numbers from 0 below "
        .. "10^15 expected", shown(partition), shown(offset))
    end
  end
  return saved
end

function EventStream:_start()
  if self.tasks then return end
  local d = driver.current()
  self.driver, self.tasks = d, {}
  self.arrived, self.room, self.changed, self.stopping = d.queue(), d.queue(), d.queue(), d.queue()
  if self.leases then self.leases.changed = self.changed end
  if d.on_exit then d.on_exit(self, EventStream.stop) end -- inside nginx: a worker told to exit stops it
  for partition, offset in pairs(self:_load()) do self.taken[partition], self.acked[partition] = offset, offset end
  -- Under leases, a partition is read from its Redis checkpoint once (and each time) its lease is taken.
  -- (No checkpoint there but one acknowledged here: Redis lost its data; resume after ours, not from `start`.)
  local function on_acquired(p, held, offset)
    if offset ~= nil and not checkpoint.whole(offset) then
      return self:_fail(("the checkpoint of partition %d in Redis is not an offset: %s"):format(p, shown(offset)))
    end
    offset = offset or self.acked[p]
    self.taken[p], self.acked[p] = offset, offset
    self:_spawn(function() self:_feed_task(p, held) end)
  end
  self:_spawn(function()
    if not self:_discover(0) then return end
    for p in pairs(self.sessions) do
      if self.leases then
        self:_spawn(function()
          self.leases:task(self, p, function(held, offset) on_acquired(p, held, offset) end)
        end)
      else
        self:_spawn(function() self:_feed_task(p) end)
      end
      self:_spawn(function() self:_refresh_task(p) end)
    end
  end)
end

-- ---- the application's side ------------------------------------------------------------------------

--- Acknowledges the last event handed out: its offset becomes its partition's checkpoint.
function EventStream:ack()
  local item = self.pending
  if not item then return end
  self.pending = nil
  if self.leases then
    if self.leases:ack(item) then self.acked[item.partition] = item.offset end
    return
  end
  self.acked[item.partition] = item.offset
  local ok, err = self.store.save(item.partition, item.offset, self.acked)
  if not ok then errors.raise("EventStream", "the checkpoint was not saved: %s", tostring(err)) end
end

-- The next event, waiting for one; nil once stopped; the stream's failure is raised once every event
-- taken before it (those before a bad line, too) has been handed out.
function EventStream:_take()
  if not self.stopped then
    self:_start()
    while self.first > self.last and not self:_ended() do
      -- (false: no task is left that could queue one, which no stream that has not failed comes to)
      if not self.arrived.wait(math.huge) and self.first > self.last then self:_fail("no task is left to read") end
    end
  end
  if self.first > self.last then
    if not self.failure then return nil end
    local failure = self.failure
    self:stop()
    error(failure, 0)
  end
  local item = self.queue[self.first]
  self.queue[self.first] = nil
  self.first = self.first + 1
  if self.first > self.last then self.first, self.last = 1, 0 end -- empty: the indices start again
  if self:_queued() < self.queue_max then self.room.release() end
  if self.leases and not self.leases:valid(item.partition, item.held, self.driver.now()) then
    return self:_take() -- decoded under a lease no longer held: its next owner delivers it
  end
  self.stats.delivered = self.stats.delivered + 1
  return item
end

--- `for event, partition in stream:events() do ... end`: each event once, in order within its partition.
--- Asking for the next event acknowledges the one before; call stream:ack() before a `break` that should
--- count the last one as done.
function EventStream:events()
  return function()
    self:ack()
    local item = self:_take()
    if not item then return nil end
    self.pending = item
    return item.event, item.partition
  end
end

--- Calls fn(event, partition) for each event until stream:stop(); an event is acknowledged when fn returns.
--- An error in fn stops the stream (that event is not acknowledged) and is raised again.
function EventStream:run(fn)
  if type(fn) ~= "function" then errors.bad_argument("EventStream:run", "fn", "function expected, got " .. type(fn)) end
  for event, partition in self:events() do
    local ok, err = compat.pcall(fn, event, partition)
    if not ok then
      self.pending = nil
      self:stop()
      error(err, 0)
    end
  end
end

--- Ends every feed and refresh; events decoded but not handed out are dropped: the loop gets nil (their
--- offsets are after the checkpoint, so a new stream reads them again).
function EventStream:stop()
  if self.stopped then return end
  self.stopped = true
  self.queue, self.first, self.last = {}, 1, 0
  self:_wake_all()
  for _, task in pairs(self.tasks or {}) do
    if task ~= true then task.cancel() end
  end
  if self.leases then self.leases:release_all() end
end

EventStream.__close = EventStream.stop

function EventStream:__tostring()
  return ("falcon.EventStream (app id %s, %s)"):format(self.app_id, self.stopped and "stopped" or "open")
end

return EventStream
