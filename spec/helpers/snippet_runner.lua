-- Runs the Lua snippets of one doc, in order, in this process (lua5.4 or luajit), for spec/readme_spec.lua.
--   <vm> spec/helpers/snippet_runner.lua SNIPPETS.json RESULTS.json   (or loadfile(it)(SNIPPETS, RESULTS) in nginx)
-- SNIPPETS.json: a list of { name, code, shape, needs }. RESULTS.json gets one { ok, error } per snippet.
-- Every cloud name (us-1, us-2, ...) leads to the emulator's port for that region (FALCON_EMULATOR_REGION_*),
-- so that a snippet reaches the emulator exactly as it is written; credentials come from FALCON_CLIENT_ID
-- and FALCON_CLIENT_SECRET as they would for a user.
local cjson = require "cjson"
local falcon = require "falcon"
local regions = require "falcon.base.regions"
local read_file = require("spec.helpers.emulator").read_file

local input, output = ...

for region in pairs(regions.clouds) do
  local url = os.getenv("FALCON_EMULATOR_REGION_" .. region:upper():gsub("-", "_"))
  if url then regions.clouds[region] = url end
end

local USER = "00000000-0000-4000-8000-000000000001"
local IDP_QUERY = [[
query ($after: Cursor) {
  entities(types: [USER], first: 5, after: $after) {
    nodes { entityId primaryDisplayName }
    pageInfo { hasNextPage endCursor }
  }
}
]]

-- What a snippet may need that no earlier snippet of its doc defines.
local fixtures = {}
local function options() return { base_url = os.getenv("FALCON_BASE_URL") } end
local function new_case(mc, title)
  local r = mc:create_case_v2 { title = title, type = "fc:detection-support", user_uuid = USER, content = title,
                                detections = falcon.json.array(), incidents = falcon.json.array() }
  assert(r.status_code == 200, "fixture: create_case_v2 answered " .. tostring(r.status_code))
  return r.body.resources[1].id
end
function fixtures.mc() return falcon.MessageCenter(options()) end
function fixtures.uber() return falcon.APIHarnessV2(options()) end
function fixtures.idp() return falcon.IdentityProtection(options()) end
function fixtures.user() return USER end
function fixtures.id() return new_case(fixtures.mc(), "readme snippet case") end
fixtures.case_id = fixtures.id
function fixtures.case_ids()
  local mc = fixtures.mc()
  return { new_case(mc, "readme snippet case 1"), new_case(mc, "readme snippet case 2") }
end
function fixtures.QUERY() return IDP_QUERY end
function fixtures.variables() return {} end

-- The top-level locals of `chunk` when it returns (and the globals it set) become names later snippets
-- may need.
local defined = {}
local function run(chunk, env)
  local function on_return()
    local info = debug.getinfo(2, "f")
    if info and info.func == chunk then
      for i = 1, 250 do
        local name, value = debug.getlocal(2, i)
        if not name then break end
        if not name:find("^%(") then defined[name] = { value } end
      end
    end
  end
  debug.sethook(on_return, "r")
  local ok, err = xpcall(chunk, debug.traceback)
  debug.sethook()
  if ok then
    for name, value in pairs(env) do defined[name] = { value } end
  end
  return ok, err
end

local snippets = cjson.decode((assert(read_file(input), input)))
local results = {}
for i, snippet in ipairs(snippets) do
  io.stdout:write("---- ", snippet.name, "\n")
  io.stdout:flush()
  local visible = { falcon = falcon }
  local result = { ok = true }
  for _, name in ipairs(snippet.needs) do
    if defined[name] then
      visible[name] = defined[name][1]
    elseif fixtures[name] then
      local ok, value = pcall(fixtures[name])
      if not ok then result = { ok = false, error = "needs " .. name .. ": " .. tostring(value) }; break end
      visible[name] = value
    else
      result = { ok = false, error = "needs '" .. name .. "', which no earlier snippet defines and no fixture "
        .. "provides (fixtures: mc, uber, idp, id, case_id, case_ids, user, QUERY, variables)" }
      break
    end
  end
  -- A snippet sees the standard globals, `falcon` and what it declares: any other free name is an error.
  local env = setmetatable({}, { __index = function(_, name)
    if visible[name] ~= nil then return visible[name] end
    if _G[name] ~= nil then return _G[name] end
    error(("uses '%s', which it does not declare (first line: -- test: needs %s)"):format(name, name), 2)
  end })
  local chunk, err
  if result.ok then
    if setfenv then
      chunk, err = loadstring(snippet.code, "=" .. snippet.name)
      if chunk then setfenv(chunk, env) end
    else
      chunk, err = load(snippet.code, "=" .. snippet.name, "t", env)
    end
    -- A shape may be an expression (a response table) rather than statements.
    if not chunk and snippet.shape then
      local again = (setfenv and loadstring or load)("return " .. snippet.code, "=" .. snippet.name)
      if again then chunk, err = again, nil end
    end
    if not chunk then result = { ok = false, error = err }
    elseif not snippet.shape then
      local ok, failure = run(chunk, env)
      if not ok then result = { ok = false, error = tostring(failure) } end
    end
  end
  results[i] = result
  io.stdout:flush()
end

local f = assert(io.open(output, "wb"))
f:write(cjson.encode(results))
f:close()
