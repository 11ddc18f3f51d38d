--- One token for every worker of an nginx: the `shared_dict = "<lua_shared_dict name>"` client option.
-- A worker that needs a token first looks in the dict; only when the dict has none it may use (absent,
-- inside the renew window, or the very token this worker just found refused) does it fetch one, under a
-- lock (shdict:add with a TTL) so that one worker fetches while the others wait and re-read.
--
-- This puts the token (never the client secret) in nginx's shared memory, readable by any Lua code of
-- that nginx that knows the dict's name: give the dict to the SDK alone. The entry expires with the
-- token (its TTL), and a refused token is replaced, never reused.
-- luacheck: globals ngx
local errors = require "falcon.base.errors"
local policy = require "falcon.base.policy"

local tokenshare = {}
tokenshare.__index = tokenshare

-- How long a worker may hold the renewal lock; the others look again meanwhile after a backoff from LOOK
-- to LOOK_MAX seconds (another worker's progress shows only in the dict: no task of this one can wake them).
tokenshare.LOCK_TTL, tokenshare.LOOK, tokenshare.LOOK_MAX = 30, 0.01, 0.25

local SEP = "\n"

--- Sharing for core client `core` through the dict named `name`; renew_window as the engine's;
-- `identity` tells apart the clients (API client and member CID) that share one dict; a wait for another
-- worker's token lasts at most `max_wait` (max_retry_wait and the call's timeout) and LOCK_TTL.
function tokenshare.new(core, name, renew_window, identity, max_wait)
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or type(ngx.shared) ~= "table" then
    errors.bad_option(nil, "shared_dict", "only inside nginx with ngx_lua")
  end
  local dict = ngx.shared[name]
  if not dict then
    errors.bad_option(nil, "shared_dict", ("no lua_shared_dict named '%s' in nginx.conf"):format(name))
  end
  core:share_tokens()
  return setmetatable({ core = core, dict = dict, key = "falcon:token:" .. identity .. "@" .. core:base_url(),
                        renew_window = renew_window, max_wait = max_wait, generation = nil }, tokenshare)
end

-- {expires_at, generation, token} from the dict, or nil.
function tokenshare:read()
  local value = self.dict:get(self.key)
  if type(value) ~= "string" then return nil end
  local expires_at, generation, token = value:match("^([^\n]+)\n([^\n]+)\n(.+)$")
  if not token then return nil end
  return { expires_at = tonumber(expires_at), generation = tonumber(generation), token = token }
end

-- The dict's token, if this client may take it: not due, and not the one this client already had.
function tokenshare:usable(now)
  local entry = self:read()
  if not entry or not entry.expires_at then return nil end
  if entry.generation == self.generation then return nil end
  if entry.expires_at - now <= self.renew_window then return nil end
  return entry
end

function tokenshare:adopt(entry, now)
  self.core:adopt_token(entry.token, entry.expires_at)
  self.generation = entry.generation
  -- What a successful token exchange returns (status, headers, no body, info).
  return 201, {}, nil, { expires_in = entry.expires_at - now, shared = true }
end

--- Replaces the driver's token exchange: adopt the shared token, or fetch one (once for all workers).
function tokenshare:authenticate(d)
  local now = d.now()
  local entry = self:usable(now)
  if entry then return self:adopt(entry, now) end
  local lock = self.key .. ":lock"
  local waited_until = now + math.min(tokenshare.LOCK_TTL, self.max_wait)
  local locked = self.dict:add(lock, true, tokenshare.LOCK_TTL)
  local looks = 0
  while not locked do
    looks = looks + 1
    d.sleep(math.max(0, math.min(policy.backoff(tokenshare.LOOK, tokenshare.LOOK_MAX, looks, math.random),
                                 waited_until - d.now())))
    now = d.now()
    entry = self:usable(now)
    if entry then return self:adopt(entry, now) end
    if now >= waited_until then break end -- the holder died, or waiting took too long: fetch without the lock
    locked = self.dict:add(lock, true, tokenshare.LOCK_TTL)
  end
  -- Another worker may have stored a token between our look and the lock.
  entry = self:usable(d.now())
  if entry then
    if locked then self.dict:delete(lock) end
    return self:adopt(entry, d.now())
  end
  local ok, status, headers, body, info = pcall(d.exchange, self.core, "token")
  if ok and status and body == nil then
    local token, expires_at = self.core:export_token()
    if token then
      local previous = self:read()
      local generation = ((previous and previous.generation) or 0) + 1
      local ttl = math.max(1, expires_at - d.now())
      self.dict:set(self.key, ("%.3f%s%d%s%s"):format(expires_at, SEP, generation, SEP, token), ttl)
      self.generation = generation
    end
  end
  if locked then self.dict:delete(lock) end
  if not ok then error(status, 0) end
  return status, headers, body, info
end

return tokenshare
