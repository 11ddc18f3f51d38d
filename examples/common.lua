-- luacheck: no max line length
--- Shared bits of the examples: credentials from the environment, and printing.
--
-- Every example reads FALCON_CLIENT_ID, FALCON_CLIENT_SECRET, FALCON_BASE_URL (a cloud name such
-- as "us-2", or a URL such as the emulator's) and FALCON_CA_BUNDLE. Never hard-code credentials.
-- Run an example from the repository root, e.g.  lua5.4 examples/mc_query_cases.lua
-- (LUA_PATH/LUA_CPATH from `eval "$(make -s env)"`).
local falcon = require "falcon"
local json = require "falcon.json"

local M = {}

--- Constructor options from the environment, plus `extra`.
function M.options(extra)
  local opts = {
    client_id = os.getenv("FALCON_CLIENT_ID"),
    client_secret = os.getenv("FALCON_CLIENT_SECRET"),
    base_url = os.getenv("FALCON_BASE_URL"),
    ca_bundle = os.getenv("FALCON_CA_BUNDLE"),
  }
  if not opts.client_id or not opts.client_secret then
    io.stderr:write("set FALCON_CLIENT_ID and FALCON_CLIENT_SECRET (and FALCON_BASE_URL)\n")
    os.exit(2)
  end
  if opts.ca_bundle == "" then opts.ca_bundle = nil end
  if opts.base_url == "" then opts.base_url = nil end
  for k, v in pairs(extra or {}) do opts[k] = v end
  return opts
end

--- The styles an example runs: all of them, or the one named on the command line.
function M.styles(all)
  local wanted = arg and arg[1]
  if not wanted then return all end
  for _, s in ipairs(all) do if s == wanted then return { s } end end
  io.stderr:write("unknown style '" .. wanted .. "'; use one of: " .. table.concat(all, ", ") .. "\n")
  os.exit(2)
end

--- A response as text: status, the interesting headers and the JSON body (FalconPy's print(response)).
function M.show(response)
  if type(response) ~= "table" then return tostring(response) end
  if getmetatable(response) then return tostring(response) end
  local h = response.headers or {}
  local shown = {
    status_code = response.status_code,
    headers = { ["X-Cs-Region"] = h["X-Cs-Region"], ["X-Cs-Traceid"] = h["X-Cs-Traceid"],
                ["Content-Type"] = h["Content-Type"] },
    body = response.body,
  }
  local ok, text = pcall(json.encode, shown)
  return ok and text or tostring(response)
end

--- Prints a labelled response and returns it.
function M.print(label, response)
  print(label .. ": " .. M.show(response))
  return response
end

--- Some case ids to work with (the emulator seeds cases; a real tenant has its own).
function M.case_ids(mc, n)
  local r = mc:query_cases{ limit = n or 3, sort = "case.created_time.desc" }
  if type(r) ~= "table" or r.status_code ~= 200 then
    error("query_cases failed: " .. M.show(r))
  end
  return r.body.resources
end

--- The UUID of the user behind a case (the API wants one on writes).
function M.user_uuid(mc)
  local ids = M.case_ids(mc, 1)
  local r = #ids > 0 and mc:get_cases{ ids = ids } or {}
  local case = r.body and r.body.resources and r.body.resources[1]
  return case and case.assigner and case.assigner.uuid or os.getenv("FALCON_USER_UUID") or "00000000-0000-0000-0000-000000000000"
end

M.falcon = falcon
M.json = json
return M
