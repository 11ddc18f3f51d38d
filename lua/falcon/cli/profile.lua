--- Where the command line finds credentials: the environment (FALCON_CLIENT_ID, FALCON_CLIENT_SECRET,
-- FALCON_BASE_URL, FALCON_MEMBER_CID) or a named profile in the user's config directory
-- ($XDG_CONFIG_HOME/falcon/credentials, else ~/.config/falcon/credentials), an INI file:
--
--     [prod]
--     client_id = ...
--     client_secret = ...
--     base_url = us-2
--
-- `falcon configure` writes it with mode 0600 and reads the secret without echo. A secret is never
-- taken from the command line (it would show in `ps` and in the shell's history).
local M = {}

M.FIELDS = { "client_id", "client_secret", "base_url", "member_cid" }
local ENV = { client_id = "FALCON_CLIENT_ID", client_secret = "FALCON_CLIENT_SECRET",
              base_url = "FALCON_BASE_URL", member_cid = "FALCON_MEMBER_CID" }
M.ENV = ENV

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- The profile file's path.
function M.path()
  local base = os.getenv("XDG_CONFIG_HOME")
  if not base or base == "" then base = (os.getenv("HOME") or ".") .. "/.config" end
  return base .. "/falcon/credentials"
end

--- Every profile of a file: { name = { field = value } }, and the names in file order.
function M.read(path)
  local profiles, order = {}, {}
  local f = io.open(path, "r")
  if not f then return profiles, order end
  local current
  for line in f:lines() do
    local section = line:match("^%s*%[%s*([^%]]-)%s*%]%s*$")
    if section then
      current = profiles[section] or {}
      if not profiles[section] then order[#order + 1] = section end
      profiles[section] = current
    elseif current and not line:match("^%s*[#;]") then
      local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
      if k then current[k] = v end
    end
  end
  f:close()
  return profiles, order
end

--- Client options from a named profile, the environment, or the default profile (in that order:
-- an explicit --profile wins, then FALCON_CLIENT_ID/SECRET, then FALCON_PROFILE or "default").
-- Returns options and where they came from, or nil and a message.
function M.credentials(name)
  local path = M.path()
  local function from_file(profile, explicit)
    local profiles, order = M.read(path)
    local p = profiles[profile]
    if not p then
      if not explicit then return nil end
      local hint = require("falcon.suggest").hint(profile, order)
      return nil, string.format("no profile '%s' in %s%s; create it with `falcon configure --profile %s`",
        profile, path, hint, profile)
    end
    local opts = {}
    for _, k in ipairs(M.FIELDS) do if p[k] and p[k] ~= "" then opts[k] = p[k] end end
    return opts, "profile " .. profile
  end
  if name then return from_file(name, true) end
  if (os.getenv(ENV.client_id) or "") ~= "" then
    local opts = {}
    for _, k in ipairs(M.FIELDS) do
      local v = os.getenv(ENV[k])
      if v and v ~= "" then opts[k] = v end
    end
    return opts, "environment"
  end
  local chosen = os.getenv("FALCON_PROFILE")
  if chosen and chosen ~= "" then return from_file(chosen, true) end
  local opts, from = from_file("default", false)
  if opts then return opts, from end
  return nil, "no credentials: set FALCON_CLIENT_ID and FALCON_CLIENT_SECRET (and FALCON_BASE_URL), "
    .. "or create a profile with `falcon configure`"
end

--- True when file descriptor `fd` is a terminal (os.execute gives true on 5.2+, 0 on 5.1 and LuaJIT).
local function is_terminal(fd)
  local status = os.execute("test -t " .. fd)
  return status == true or status == 0
end
M.is_terminal = is_terminal

--- Reads one line; without echo when `secret` and stdin is a terminal.
local function ask(prompt, secret, current)
  -- Echo goes off before the prompt shows: keys typed as soon as it appears are never echoed.
  local hidden = secret and is_terminal(0)
  if hidden then os.execute("stty -echo") end
  io.stderr:write(prompt, current and current ~= "" and (secret and " [keep]" or (" [" .. current .. "]")) or "",
    ": ")
  io.stderr:flush()
  local ok, line = pcall(io.read, "*l")
  if hidden then
    os.execute("stty echo")
    io.stderr:write("\n")
  end
  if not ok then error(line, 0) end
  if line == nil then return current end
  line = line:match("^%s*(.-)%s*$")
  if line == "" then return current end
  return line
end

--- Writes profiles to the file, readable by its owner only.
function M.write(path, profiles, order)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local tmp = path .. ".new"
  -- Created with mode 0600 (umask 077) before a byte is written, then renamed over the old file.
  local created = os.execute("umask 077 && mkdir -p " .. quote(dir) .. " && rm -f " .. quote(tmp)
    .. " && : > " .. quote(tmp))
  if not (created == true or created == 0) then return nil, "cannot create " .. tmp end
  local f, err = io.open(tmp, "w")
  if not f then return nil, err end
  for _, name in ipairs(order) do
    f:write("[", name, "]\n")
    for _, k in ipairs(M.FIELDS) do
      local v = profiles[name][k]
      if v and v ~= "" then f:write(k, " = ", v, "\n") end
    end
    f:write("\n")
  end
  f:close()
  local ok, rename_err = os.rename(tmp, path)
  if not ok then os.remove(tmp); return nil, rename_err end
  return true
end

--- `falcon configure [--profile NAME]`: asks for each field (Enter keeps the current value).
function M.configure(name)
  name = name or "default"
  if name:find("[%]%[\r\n]") or name == "" then return nil, "bad profile name '" .. name .. "'" end
  local path = M.path()
  local profiles, order = M.read(path)
  local p = profiles[name] or {}
  if not profiles[name] then order[#order + 1] = name end
  io.stderr:write("falcon configure: profile '", name, "' in ", path, "\n")
  local fresh = {}
  fresh.client_id = ask("client_id", false, p.client_id)
  fresh.client_secret = ask("client_secret (not echoed)", true, p.client_secret)
  fresh.base_url = ask("base_url (us1, us-2, eu-1, usgov1, usgov2 or a URL)", false, p.base_url or "us1")
  fresh.member_cid = ask("member_cid (MSSP child, optional)", false, p.member_cid)
  for k, v in pairs(fresh) do
    if type(v) == "string" and v:find("[\r\n]") then return nil, k .. " contains a line break" end
  end
  if not fresh.client_id or not fresh.client_secret then return nil, "client_id and client_secret are required" end
  profiles[name] = fresh
  local ok, err = M.write(path, profiles, order)
  if not ok then return nil, err end
  io.stderr:write("falcon configure: saved profile '", name, "' (mode 0600)\n")
  return true
end

return M
