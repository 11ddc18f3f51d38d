--- Where the command line finds its settings, and `falcon configure`.
--
-- One precedence for every setting: a flag, else the environment, else the profile.
--
--   setting                    flag                     environment                             profile
--   client_id, client_secret   --profile NAME           FALCON_CLIENT_ID, FALCON_CLIENT_SECRET  FALCON_PROFILE, else default
--   base_url                   --base-url, --region     FALCON_BASE_URL                         base_url
--   member_cid                 --member-cid             FALCON_MEMBER_CID                       member_cid
--
-- The id and the secret always come from one place (never an id from one and a secret from another);
-- a secret is never taken from the command line (it would show in `ps` and the shell's history).
-- Profiles live in $XDG_CONFIG_HOME/falcon/credentials (else ~/.config/falcon/credentials), an INI file:
--
--     [prod]
--     client_id = ...
--     client_secret = ...
--     base_url = us-2
--
-- The file is refused when another user could have written it (group or others may write it, or
-- another user owns it), as ssh refuses such a key: its base_url would receive the secret. A file
-- others may read gets a warning. `falcon configure` writes it with mode 0600 and reads the secret
-- without echo.
local terminal = require("falcon.core").terminal
local usage = require("falcon.cli.args").usage
local session = require "falcon.cli.session"
local suggest = require "falcon.base.suggest"

local M = {}

M.FIELDS = { "client_id", "client_secret", "base_url", "member_cid" }
local ENV = { client_id = "FALCON_CLIENT_ID", client_secret = "FALCON_CLIENT_SECRET",
              base_url = "FALCON_BASE_URL", member_cid = "FALCON_MEMBER_CID" }
M.ENV = ENV

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

--- The profile file's path.
function M.path()
  local base = env("XDG_CONFIG_HOME") or ((os.getenv("HOME") or ".") .. "/.config")
  return base .. "/falcon/credentials"
end

-- Whether permission bit `value` (an octal power of two: 0020 group write = 16) is set in `mode`.
local function has(mode, value) return math.floor(mode / value) % 2 == 1 end

-- Refuses a credentials file whose directory another user could write to (they could put their own
-- file in its place: as ssh, the directory is checked too, owner and write bits).
local function check_directory(path)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local d = io.open(dir, "r")
  if not d then return end
  local owner, mode, me = terminal.owner_mode(d)
  d:close()
  if not owner then return end
  if (owner ~= me and owner ~= 0) or has(mode, 16) or has(mode, 2) then
    usage("%s: its directory %s can be written by other users (owner uid %d, mode %04o): refusing the credentials "
      .. "in it; chmod 700 %s", path, dir, owner, mode, dir)
  end
end

-- Refuses a credentials file another user could have written; warns when others may read it.
local function check_file(f, path)
  check_directory(path)
  local owner, mode, me = terminal.owner_mode(f)
  if not owner then usage("%s: cannot check its owner (%s)", path, tostring(mode)) end
  if owner ~= me then
    usage("%s is owned by another user (uid %d): refusing the credentials in it (its base_url would receive "
      .. "the secret)", path, owner)
  end
  if has(mode, 16) or has(mode, 2) then -- 0020, 0002
    usage("%s can be written by other users (mode %04o): refusing the credentials in it (its base_url would "
      .. "receive the secret); chmod 600 %s", path, mode, path)
  end
  if has(mode, 32) or has(mode, 4) then -- 0040, 0004
    io.stderr:write(string.format("falcon: warning: %s can be read by other users (mode %04o); chmod 600 %s\n",
      path, mode, path))
  end
end

--- Every profile of a file: { name = { field = value } }, and the names in file order.
function M.read(path)
  local profiles, order = {}, {}
  local f = io.open(path, "r")
  if not f then return profiles, order end
  local ok, err = pcall(check_file, f, path)
  if not ok then f:close(); error(err, 0) end
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

-- A profile's settings: { field = value }, where = "profile 'NAME' (PATH)"; nil when it does not exist.
local function profile_settings(name, explicit)
  local path = M.path()
  local profiles, order = M.read(path)
  local p = profiles[name]
  if not p then
    if not explicit then return nil end
    usage("no profile '%s' in %s%s; create it with `falcon configure --profile %s`", name, path,
      suggest.hint(name, order), name)
  end
  local values = {}
  for _, k in ipairs(M.FIELDS) do if p[k] and p[k] ~= "" then values[k] = p[k] end end
  return values, string.format("profile '%s' (%s)", name, path)
end

-- The id and secret from one place: (values, where) with both, or a usage error naming what is missing.
local function pair(values, where, id_name, secret_name)
  if values.client_id and values.client_secret then return end
  if values.client_id then usage("%s gives %s but no %s", where, id_name, secret_name) end
  if values.client_secret then usage("%s gives %s but no %s", where, secret_name, id_name) end
end

--- The client options for a run and where each came from (for messages: { option = what the user set }).
--- `opts`: the command's options (profile, base-url, member-cid and their typed names).
function M.settings(opts)
  local creds, names = {}, {}
  local function take(values, where, field_names)
    for _, k in ipairs(M.FIELDS) do
      if values[k] then creds[k], names[k] = values[k], field_names and field_names[k] or where end
    end
  end
  -- lowest layer first: the profile, then the environment, then flags
  local profile_name = opts.profile or env("FALCON_PROFILE")
  local values, where = profile_settings(profile_name or "default", profile_name ~= nil)
  local from_env = env(ENV.client_id) or env(ENV.client_secret)
  if values then
    if from_env and not opts.profile then values.client_id, values.client_secret = nil, nil
    else pair(values, where, "client_id", "client_secret") end
    take(values, where)
  end
  local environment = {}
  for _, k in ipairs(M.FIELDS) do environment[k] = env(ENV[k]) end
  if opts.profile then environment.client_id, environment.client_secret = nil, nil
  else pair(environment, "the environment", ENV.client_id, ENV.client_secret) end
  take(environment, nil, ENV)
  if opts["base-url"] then creds.base_url, names.base_url = opts["base-url"], "--" .. opts._typed["base-url"] end
  if opts["member-cid"] then creds.member_cid, names.member_cid = opts["member-cid"], "--member-cid" end
  if not creds.client_id then
    usage("no credentials: set FALCON_CLIENT_ID and FALCON_CLIENT_SECRET (and FALCON_BASE_URL), "
      .. "or create a profile with `falcon configure`")
  end
  return creds, names
end

--- Reads one line; without echo when `secret` and stdin is a terminal. A signal ends the read at once
--- (falcon.cli.session ends the run; the terminal's echo is back before anything else happens).
local function ask(ctx, prompt, secret, current)
  -- Echo goes off before the prompt shows: keys typed as soon as it appears are never echoed.
  local hidden = secret and ctx.stdin == "terminal"
  if hidden then assert(terminal.echo_off(0)) end
  io.stderr:write(prompt .. (current and current ~= "" and (secret and " [keep]" or (" [" .. current .. "]")) or "")
    .. ": ")
  io.stderr:flush()
  ctx.line_open = true -- a message that ends the run starts on a line of its own (falcon.cli.session)
  local line = io.read("*l")
  if hidden then
    terminal.echo_restore()
    io.stderr:write("\n")
  end
  ctx.line_open = false
  if terminal.caught() then error("falcon: interrupted", 0) end
  if line == nil then return current end
  line = line:match("^%s*(.-)%s*$")
  if line == "" then return current end
  return line
end

--- Writes profiles to the file, readable by its owner only.
function M.write(ctx, path, profiles, order)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local tmp = path .. ".new"
  local forget = session.temporary(ctx, tmp)
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
  local closed, close_err = f:close()
  if not closed then return nil, close_err end
  local ok, rename_err = os.rename(tmp, path)
  if not ok then return nil, rename_err end
  forget()
  return true
end

--- `falcon configure [--profile NAME]`: asks for each field (Enter keeps the current value).
function M.configure(ctx, name)
  name = name or "default"
  if name:find("[%]%[\r\n]") or name == "" then return nil, "bad profile name '" .. name .. "'" end
  local path = M.path()
  local profiles, order = M.read(path)
  local p = profiles[name] or {}
  if not profiles[name] then order[#order + 1] = name end
  io.stderr:write("falcon configure: profile '" .. name .. "' in " .. path .. "\n")
  local fresh = {}
  fresh.client_id = ask(ctx, "client_id", false, p.client_id)
  fresh.client_secret = ask(ctx, "client_secret (not echoed)", true, p.client_secret)
  fresh.base_url = ask(ctx, "base_url (us1, us-2, eu-1, usgov1, usgov2 or a URL)", false, p.base_url or "us1")
  fresh.member_cid = ask(ctx, "member_cid (MSSP child, optional)", false, p.member_cid)
  for k, v in pairs(fresh) do
    if type(v) == "string" and v:find("[\r\n]") then return nil, k .. " contains a line break" end
  end
  if not fresh.client_id or not fresh.client_secret then return nil, "client_id and client_secret are required" end
  profiles[name] = fresh
  local ok, err = M.write(ctx, path, profiles, order)
  if not ok then return nil, err end
  io.stderr:write("falcon configure: saved profile '" .. name .. "' (mode 0600)\n")
  return true
end

return M
