-- Test helper: a scripted hostile Redis, so that falcon.fleet.redis (and the fleet and the leases above it) are
-- tried for real against a peer that floods, stalls and answers the wrong thing (issue 23). It runs as its
-- own lua5.4 process (luasocket), started by the spec on a free port of 127.0.0.1, serving every connection
-- from one select loop; it ends by itself once the test process is gone, and stop() ends it at once.
--   local r = hostile_redis.start { EVALSHA = "+OK\r\n", GET = { flood = "$9999999999\r\n", fill = "x" } }
--   r.url ("redis://127.0.0.1:PORT/0"), r.port, r:commands() -> { "SCRIPT", "EVALSHA", ... }, r:stop()
--   hostile_redis.serving(plan, function(r) ... end)   -- started, and stopped whatever happens
-- Each command is answered by what its name (upper case) is given:
--   "raw bytes"                         sent as they are (anything at all: "+OK\r\n", ":1\r\n", "*2000000000\r\n")
--   { flood = PREFIX, fill = BYTES }    PREFIX, then BYTES over and over until the client closes
--   { drip = { PART, ... }, every = S } one PART every S seconds
--   { silent = true }                   nothing at all
-- SCRIPT (LOAD) is answered with a SHA-1 unless given; any other command not given gets an error reply.

-- A wait between looks at a server: in this process (a shell per look costs a fork of the suite). Loaded
-- on use: hostile_redis runs this file as its own server process too, which must not load the core.
local function nap(seconds) require("falcon.core").sleep(seconds) end
local emulator = require "spec.helpers.emulator"
local spawn = require "spec.helpers.spawn"

local M = {}
local quote, run, read_file = emulator.quote, emulator.run, emulator.read_file

local SHA = ("5a"):rep(20)

local Server = {}
Server.__index = Server

--- Starts a server answering as `plan` says.
function M.start(plan)
  local cjson = require "cjson"
  local dir = spawn.folder("hostile-redis")
  local f = assert(io.open(dir .. "/plan.json", "wb"))
  f:write(cjson.encode(plan or {}))
  f:close()
  local script = debug.getinfo(1, "S").source:match("^@(.*)$")
  -- $PPID of the shell is this Lua process: the server ends once it is gone.
  run("setsid lua5.4 " .. quote(script) .. " serve " .. quote(dir) .. " $PPID </dev/null >/dev/null 2>"
    .. quote(dir .. "/err") .. " & :")
  for _ = 1, 400 do
    local port, pid = (read_file(dir .. "/port") or ""):match("^(%d+) (%d+)\n")
    if port then
      return setmetatable({ dir = dir, port = tonumber(port), pid = pid,
                            url = "redis://127.0.0.1:" .. port .. "/0" }, Server)
    end
    nap(0.01)
  end
  local err = read_file(dir .. "/err") or ""
  run("rm -rf " .. quote(dir))
  error("hostile redis did not start: " .. err, 2)
end

--- Runs `fn(server)` with a server answering as `plan` says, and stops it whatever happens.
function M.serving(plan, fn)
  local server = M.start(plan)
  local ok, err = pcall(fn, server)
  server:stop()
  if not ok then error(err, 0) end
end

--- The names of the commands received so far, in order.
function Server:commands()
  local list = {}
  for name in (read_file(self.dir .. "/commands") or ""):gmatch("[^\n]+") do list[#list + 1] = name end
  return list
end

--- Stops the server and removes its folder; safe to call twice.
function Server:stop()
  if self.pid then run("kill -TERM " .. self.pid .. " 2>/dev/null") end
  self.pid = nil
  if self.dir then run("rm -rf " .. quote(self.dir)) end
  self.dir = nil
end

------------------------------------------------------------------------------------- the server

-- Complete commands (RESP arrays of bulk strings) at the start of `buffer`: their names, and the rest.
local function commands_in(buffer)
  local names = {}
  while true do
    local count, pos = buffer:match("^%*(%d+)\r\n()")
    if not count then break end
    local name
    for i = 1, tonumber(count) do
      local len, at = buffer:match("^%$(%d+)\r\n()", pos)
      if not len or #buffer < at + len + 1 then return names, buffer end
      if i == 1 then name = buffer:sub(at, at + len - 1):upper() end
      pos = at + len + 2
    end
    names[#names + 1] = name
    buffer = buffer:sub(pos)
  end
  return names, buffer
end

local function answer(plan, name, now)
  local given = plan[name]
  if given == nil then
    if name == "SCRIPT" then return { bytes = "$40\r\n" .. SHA .. "\r\n" } end
    return { bytes = "-ERR hostile: nothing scripted for " .. name .. "\r\n" }
  end
  if type(given) == "string" then return { bytes = given } end
  if given.flood then return { bytes = given.flood, fill = given.fill } end
  if given.drip then return { drip = given.drip, every = given.every, next = now, at = 1 } end
  return { bytes = "" }
end

-- Moves one connection's answers forward without blocking; false once the client is gone.
local function push(conn, now)
  local action = conn.actions[1]
  if not action then return true end
  if action.drip then
    if now < action.next then return true end
    action.bytes, action.next = action.drip[action.at], now + action.every
    action.at = action.at + 1
    if action.at > #action.drip then action.drip = nil end
  end
  if action.bytes == "" and action.fill then action.bytes = action.fill:rep(math.ceil(1048576 / #action.fill)) end
  if action.bytes ~= "" then
    local sent, err, last = conn.sock:send(action.bytes)
    if err == "closed" then return false end
    action.bytes = action.bytes:sub((sent or last or 0) + 1)
  end
  if action.bytes == "" and not action.fill and not action.drip then table.remove(conn.actions, 1) end
  return true
end

local function serve(dir, owner)
  local socket = require "socket"
  local plan = require("cjson").decode(read_file(dir .. "/plan.json"))
  local server = assert(socket.bind("127.0.0.1", 0))
  server:settimeout(0)
  local _, port = server:getsockname()
  local pid = read_file("/proc/self/stat"):match("^(%d+)")
  local f = assert(io.open(dir .. "/port", "w"))
  f:write(port, " ", pid, "\n")
  f:close()
  local log = assert(io.open(dir .. "/commands", "a"))
  log:setvbuf("line")
  local conns, checked = {}, 0
  while true do
    local now = socket.gettime()
    if now - checked > 0.5 then
      checked = now
      if not io.open("/proc/" .. owner .. "/stat") then os.exit(0) end
    end
    local watched, busy = { server }, false
    for _, conn in ipairs(conns) do
      watched[#watched + 1] = conn.sock
      local action = conn.actions[1]
      busy = busy or (action ~= nil and (action.fill ~= nil or (action.bytes or "") ~= ""))
    end
    -- A flood or a drip under way is not held up waiting for what clients send.
    local readable = socket.select(watched, nil, busy and 0 or 0.002)
    for _, sock in ipairs(readable) do
      if sock == server then
        local client = server:accept()
        if client then
          client:settimeout(0)
          conns[#conns + 1] = { sock = client, buffer = "", actions = {} }
        end
      end
    end
    local alive = {}
    for _, conn in ipairs(conns) do
      local data, err, partial = conn.sock:receive(65536)
      conn.buffer = conn.buffer .. (data or partial or "")
      local names
      names, conn.buffer = commands_in(conn.buffer)
      for _, name in ipairs(names) do
        log:write(name, "\n")
        conn.actions[#conn.actions + 1] = answer(plan, name, now)
      end
      if err ~= "closed" and push(conn, now) then alive[#alive + 1] = conn else conn.sock:close() end
    end
    conns = alive
  end
end

-- Run as a program (`lua5.4 hostile_redis.lua serve DIR OWNER_PID`), not required as a module.
if (...) == "serve" then serve(select(2, ...)) end

return M
