-- falcon.CaseWatch inside nginx (LuaJIT, the cosocket driver): changes handed over once through faults
-- from a request handler, and falcon.watch.nginx in 4 workers, where another worker takes the watch
-- over from the shared-dict checkpoint when the owner is killed.
local core = require "falcon.core"
local emulator = require "spec.helpers.emulator"
local openresty = require "spec.helpers.openresty"

describe("falcon.CaseWatch in nginx", function()
  local e, ids

  setup(function()
    e = emulator.start { seed = { cases = 6, max_activities = 1 } }
    local token = e:token()
    ids = {}
    for i, case in ipairs(e:all_cases(token)) do ids[i] = case.id end
    table.sort(ids)
  end)
  teardown(function() e:stop() end)

  local function reply(i, text)
    return e:control("casework", { actions = { { action = "reply", case_id = ids[i], body = text } } }).applied[1].id
  end

  it("hands over each change once through a handler, through 5xx, cuts and an expired token", function()
    local ngx_server = openresty.start { emu = e }
    e:control("faults", { faults = {
      { route = "/message-center/entities/cases/GET/v1", status = 503, count = 3 },
      { route = "/message-center/entities/case-activities/GET/v1", kind = "reset", count = 2 },
      { route = "/message-center/queries/cases/v1", kind = "truncate", count = 2, every = 4 },
    } })
    e:control("casework", { after = 0.5, actions = {
      { action = "reply", case_id = ids[1], body = "one" }, { action = "reply", case_id = ids[2], body = "two" } } })
    e:control("casework", { after = 1.2, actions = { { action = "update", case_id = ids[1], set = { title = "x" } } } })
    -- The token expires while the watch runs.
    emulator.run("(sleep 0.8; curl -s -X POST -d '{\"expire\": \"all\"}' " .. emulator.quote(e.url .. "/_emulator/tokens")
      .. " >/dev/null) >/dev/null 2>&1 & :")
    local r = ngx_server:get("/watch?idle=2")
    local errors = ngx_server:errors()
    ngx_server:stop()
    assert.is_nil(r.error, r.error)
    assert.are.equal("cosocket", r.driver)
    local seen, kinds = {}, {}
    for _, line in ipairs(r.lines) do
      assert.is_nil(seen[line], "handed over twice: " .. line)
      seen[line] = true
      local kind = line:match("^(%S+)")
      kinds[kind] = (kinds[kind] or 0) + 1
    end
    assert.are.same({ case_seen = 2, activity_added = 2, case_updated = 1 }, kinds, errors)
    for _, left in ipairs(e:control("faults", {}).faults) do -- every fault was met (retried by the client)
      assert.are.equal("/message-center/queries/cases/v1", left.route)
    end
  end)

  it("runs in one of 4 workers, and another takes over from the checkpoint when it is killed", function()
    e:control("faults", { clear = true })
    local ngx_server = openresty.start { emu = e, workers = 4, extra = [[
      lua_shared_dict falcon_watch 1m;
      init_worker_by_lua_block {
        require("spec.helpers.ngx_stream_app").start_watch("@DIR@/config.json", "@DIR@/changes.out")
      }
    ]] }
    local out = ngx_server.dir .. "/changes.out"
    local function lines()
      local list = {}
      for pid, kind, item in (emulator.read_file(out) or ""):gmatch("(%d+) (%S+) %x+ (%S+)\n") do
        list[#list + 1] = { pid = pid, kind = kind, item = item }
      end
      return list
    end
    core.sleep(1) -- a worker holds the lease and has begun
    local expected = {}
    for i = 1, 8 do expected[reply(i % 6 + 1, "r" .. i)] = true core.sleep(0.05) end
    local before
    for _ = 1, 200 do
      before = lines()
      if #before >= 4 then break end
      core.sleep(0.05)
    end
    local owner = before[#before].pid
    emulator.run("kill -KILL " .. owner)
    for i = 9, 16 do expected[reply(i % 6 + 1, "r" .. i)] = true core.sleep(0.05) end
    local after, missing
    for _ = 1, 400 do
      after = lines()
      local got = {}
      for _, l in ipairs(after) do got[l.item] = true end
      missing = nil
      for id in pairs(expected) do if not got[id] then missing = id break end end
      if not missing then break end
      core.sleep(0.05)
    end
    local errors = ngx_server:errors()
    ngx_server:stop()
    assert.is_nil(missing, "reply " .. tostring(missing) .. " lost; nginx said:\n" .. errors)
    local count, repeats, takers = {}, 0, {}
    for i, l in ipairs(after) do
      if l.kind == "activity_added" then
        if count[l.item] then repeats = repeats + 1 end
        count[l.item] = true
      end
      if i > #before then
        assert.are_not.equal(owner, l.pid)
        takers[l.pid] = true
      end
    end
    assert.is_true(repeats <= 1, repeats .. " repeated")
    assert.is_truthy(next(takers))
  end)
end)
