-- luacheck: no max line length
-- Every example in examples/ runs against the emulator, with credentials from the environment,
-- and does what it says (exit status 0, successful responses, the expected output).
local api = require "spec.helpers.api"

local vm = require "spec.helpers.vm"

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

describe("examples (against the emulator)", function()
  local e, tmp

  setup(function()
    e = api.start()
    tmp = os.tmpname()
    os.remove(tmp)
    assert(os.execute("mkdir -p " .. shell_quote(tmp)))
  end)

  teardown(function()
    if e then e:stop() end
    if tmp then os.execute("rm -rf " .. shell_quote(tmp)) end
  end)

  -- Runs an example; returns its output (stdout and stderr) and whether it exited with 0.
  local function run(script, style)
    local env = {
      "FALCON_CLIENT_ID=" .. shell_quote(e.client_id),
      "FALCON_CLIENT_SECRET=" .. shell_quote(e.client_secret),
      "FALCON_BASE_URL=" .. shell_quote(e.url),
      "TMPDIR=" .. shell_quote(tmp), "FALCON_WATCH_INTERVAL=0.2",
      "LUA_PATH=" .. shell_quote(package.path),
      "LUA_CPATH=" .. shell_quote(package.cpath),
    }
    local cmd = table.concat(env, " ") .. " " .. vm .. " examples/" .. script .. (style and (" " .. style) or "") .. " 2>&1; echo \"exit=$?\""
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    local code = tonumber(out:match("exit=(%d+)%s*$"))
    return out, code == 0
  end

  local function responses(out)
    local list = {}
    for line in out:gmatch("[^\n]+") do
      local status = line:match('^[^:]+: {.-"status_code":(%d+)')
      if status then list[#list + 1] = tonumber(status) end
    end
    return list
  end

  local message_center = {
    "mc_aggregate_cases.lua", "mc_get_case_activity.lua", "mc_add_case_activity.lua", "mc_add_case_attachment.lua",
    "mc_create_case.lua", "mc_create_case_v2.lua", "mc_update_case.lua", "mc_get_cases.lua",
    "mc_query_activities.lua", "mc_query_cases.lua",
  }
  for _, script in ipairs(message_center) do
    for _, style in ipairs { "pep8", "opid", "uber" } do
      it(script .. " (" .. style .. ")", function()
        local out, ok = run(script, style)
        assert.is_true(ok, out)
        local statuses = responses(out)
        assert.is_true(#statuses >= 1, out)
        for _, s in ipairs(statuses) do assert.equal(200, s, out) end
      end)
    end
  end

  it("mc_download_case_attachment.lua (all styles)", function()
    local out, ok = run("mc_download_case_attachment.lua")
    assert.is_true(ok, out)
    local saved = 0
    for _ in out:gmatch("saved 21 bytes") do saved = saved + 1 end
    assert.equal(4, saved, out)
    assert.truthy(out:find("streamed: status 200", 1, true), out)
  end)

  it("the decommissioned examples warn on stderr", function()
    local out = run("mc_create_case.lua")
    assert.truthy(out:find("CreateCase .- is decommissioned upstream"), out)
    local _, n = out:gsub("is decommissioned upstream", "")
    assert.equal(1, n, out)
  end)

  it("rh_binary_response.lua: the docs' get_sample, as a ZIP, expanded, and streamed", function()
    local out, ok = run("rh_binary_response.lua")
    assert.is_true(ok, out)
    assert.truthy(out:find("saved %d+ bytes to .-falconlua%-api_response%.zip %(starts with \"PK\\3\\4\"%)"), out)
    assert.truthy(out:find("Status returned: 200", 1, true), out)
    assert.truthy(out:find("Content-Type returned: application/octet-stream", 1, true), out)
    assert.truthy(out:find("streamed to .-: status 200, 50 bytes"), out)
  end)

  it("rh_offset_pagination.lua: the docs' Hosts loop over several pages; the iterator agrees", function()
    local out, ok = run("rh_offset_pagination.lua")
    assert.is_true(ok, out)
    local _, pages = out:gsub("page: 50 ids", "")
    assert.equal(6, pages, out)
    local a, b = out:match("loop: (%d+) ids"), out:match("each%(%): (%d+) ids")
    assert.equal("300", a, out)
    assert.equal(a, b)
  end)

  it("rh_after_pagination.lua: last_seen_within over several pages", function()
    local out, ok = run("rh_after_pagination.lua")
    assert.is_true(ok, out)
    local _, pages = out:gsub("Retrieved so far: ", "")
    assert.equal(4, pages, out)
    local a, b = out:match("Total IDs retrieved: (%d+)"), out:match("each%(%): (%d+)")
    assert.equal("128", a, out)
    assert.equal(a, b)
  end)

  it("rh_marker_pagination.lua", function()
    local out, ok = run("rh_marker_pagination.lua")
    assert.is_true(ok, out)
    local a, b = out:match("Total indicators retrieved: (%d+)"), out:match("each%(%): (%d+)")
    assert.is_not_nil(a, out)
    assert.equal(a, b)
  end)

  it("rh_graphql_pagination.lua", function()
    local out, ok = run("rh_graphql_pagination.lua")
    assert.is_true(ok, out)
    local n = tonumber(out:match("graphql_pages%(%): (%d+) nodes"))
    assert.is_true(n and n > 5, out)
    local _, printed = out:gsub("Requesting a page of results", "")
    assert.equal(math.ceil(n / 5), printed)
  end)

  it("rh_pythonic.lua: for-in over ids and device details, prune, APIError", function()
    local out, ok = run("rh_pythonic.lua")
    assert.is_true(ok, out)
    local _, ids = out:gsub("\n%x+\n", "\n")
    assert.is_true(ids >= 2, out)
    local _, hostnames = out:gsub("%a+%-%d%d%d%d\n", "")
    assert.equal(5, hostnames, out)
    assert.truthy(out:find("total 300, trace_id ", 1, true), out)
    assert.truthy(out:find("This record was not found. (falcon.APIError getHostGroups: [404]", 1, true), out)
    assert.truthy(out:find("falcon.Result(status_code=200", 1, true), out)
  end)

  it("mc_get_case_activity.lua works on a tenant without cases or activities", function()
    e:control("reset", { empty = true })
    local out, ok = run("mc_get_case_activity.lua", "pep8")
    e:control("reset", {})
    assert.is_true(ok, out)
    assert.truthy(out:find("no case at all: opened ", 1, true), out)
    assert.truthy(out:find("get_case_activity: {", 1, true), out)
    assert.same({ 200 }, responses(out))
  end)

  it("every file in examples/ is run by this spec", function()
    local covered = { ["common.lua"] = true, ["mc_download_case_attachment.lua"] = true, ["case_workflow.lua"] = true }
    for _, script in ipairs(message_center) do covered[script] = true end
    local spec_text = api.read("spec/examples_spec.lua")
    for name in spec_text:gmatch('run%("([%w_]+%.lua)"') do covered[name] = true end
    local p = assert(io.popen("ls examples/*.lua"))
    for path in p:lines() do
      local name = path:match("([^/]+)$")
      assert.is_true(covered[name] == true, name .. " is not run by spec/examples_spec.lua")
    end
    p:close()
  end)

  it("event_stream.lua prints detections, and a second run goes on after the last one printed", function()
    local function detections(out)
      local list = {}
      for p, offset, kind in out:gmatch("partition (%d) offset (%d+) (%w+)") do
        assert.are.equal("DetectionSummaryEvent", kind)
        list[#list + 1] = { tonumber(p), tonumber(offset) }
      end
      return list
    end
    local first_out, first_ok = run("event_stream.lua", "6")
    assert.is_true(first_ok, first_out)
    local second_out, second_ok = run("event_stream.lua", "6")
    assert.is_true(second_ok, second_out)
    local seen, last = {}, { [0] = 0, [1] = 0 }
    for _, d in ipairs(detections(first_out .. second_out)) do
      local p, offset = d[1], d[2]
      -- The emulator's detections are offsets 1, 5, 9, ... of each partition: none skipped, none twice.
      assert.are.equal(last[p] == 0 and 1 or last[p] + 4, offset, first_out .. second_out)
      last[p], seen[#seen + 1] = offset, d
    end
    assert.are.equal(12, #seen)
  end)

  it("case_watch.lua syncs CrowdStrike's replies to a file once each, and a second run goes on after them", function()
    local id = e:control("casework", { actions = { { action = "open", title = "Sync me", type = "mdr", body = "b" } } })
      .applied[1].id
    e:control("casework", { after = 1, actions = { { action = "reply", case_id = id, body = "looking" } } })
    local out, ok = run("case_watch.lua", "2")
    assert.is_true(ok, out)
    e:control("casework", { actions = { { action = "update", case_id = id, set = { status = "awaiting_customer" } } } })
    local again, again_ok = run("case_watch.lua", "2")
    assert.is_true(again_ok, again)
    local tickets = api.read(tmp .. "/tickets.txt")
    local _, replies = tickets:gsub("reply from CrowdStrike Support: looking\n", "")
    assert.are.equal(1, replies, tickets)
    assert.truthy(tickets:find("status open -> awaiting_customer", 1, true), tickets)
  end)

  it("case_workflow.lua runs the whole workflow", function()
    local out, ok = run("case_workflow.lua")
    assert.is_true(ok, out)
    for _, step in ipairs { "1. created case", "2. commented", "3. attached", "4. found 1 case",
                            "open cases", "6. ", "7. downloaded", "identical", "workflow complete" } do
      assert.truthy(out:find(step, 1, true), step .. "\n" .. out)
    end
  end)

  it("an example without credentials says what to set", function()
    local p = assert(io.popen("env -u FALCON_CLIENT_ID -u FALCON_CLIENT_SECRET LUA_PATH=" .. shell_quote(package.path)
      .. " LUA_CPATH=" .. shell_quote(package.cpath) .. " " .. vm .. " examples/mc_query_cases.lua 2>&1; echo \"exit=$?\""))
    local out = p:read("*a")
    p:close()
    assert.truthy(out:find("set FALCON_CLIENT_ID and FALCON_CLIENT_SECRET", 1, true), out)
    assert.truthy(out:find("exit=2", 1, true), out)
  end)
end)
