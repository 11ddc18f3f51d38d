-- Nothing lost, nothing doubled: paging through 5,000 cases and a write workflow while the emulator
-- injects faults on a schedule (every k-th request 503, resets, a 429 storm).
local falcon = require "falcon"
local emulator = require "spec.helpers.emulator"

local QUERY = "/message-center/queries/cases/v1"

describe("with faults on a schedule", function()
  local emu, mc

  setup(function() emu = emulator.start() end)
  teardown(function() if emu then emu:stop() end end)
  before_each(function()
    emu:control("reset", {})
    mc = falcon.MessageCenter { client_id = emu.client_id, client_secret = emu.client_secret, base_url = emu.url,
                                retry_backoff = 0.01, max_retries = 5 }
  end)

  local function hits(status)
    local n = 0
    for _, e in ipairs(emu:requests()) do if e.status == status then n = n + 1 end end
    return n
  end

  it("each() over 5,000 cases yields every id exactly once", function()
    emu:control("seed", { cases = 5000 })
    local expected = {}
    for id in mc:each("query_cases", { limit = 100, sort = "case.id.asc" }) do expected[#expected + 1] = id end
    assert.equals(5000, #expected)
    emu:clear_log()

    emu:control("faults", { route = QUERY, status = 503, every = 3, count = -1 })
    emu:control("faults", { route = QUERY, kind = "reset", every = 7, count = -1 })
    emu:control("faults", { route = QUERY, status = 502, every = 11, count = -1 })
    emu:control("faults", { route = QUERY, status = 429, count = 3, retry_after = 1 }) -- the storm, first up
    local seen, got = {}, {}
    for id in mc:each("query_cases", { limit = 100, sort = "case.id.asc" }) do
      assert.is_nil(seen[id], "yielded twice: " .. id)
      seen[id] = true
      got[#got + 1] = id
    end
    assert.same(expected, got)
    assert.equals(3, hits(429))
    assert.is_true(hits(503) >= 10)
    assert.is_true(hits(502) >= 3)
    assert.is_true(hits(444) >= 3) -- resets
  end)

  it("a workflow of creates and comments makes each write exactly once", function()
    local writes = "/message-center/entities/case*"
    emu:control("faults", { route = writes, method = "POST", status = 429, every = 4, count = 4, retry_after = 0 })
    emu:control("faults", { route = "/message-center/entities/cases/GET/v1", status = 503, every = 2, count = -1 })
    emu:control("faults", { route = writes, method = "POST", status = 429, count = 3, retry_after = 1 })
    local user = "00000000-0000-4000-8000-000000000001"
    local created = {}
    for i = 1, 12 do
      local response = mc:create_case_v2 { title = "exactly-once " .. i, type = "fc:incident-response",
        content = "case " .. i, user_uuid = user, detections = falcon.json.array(), incidents = falcon.json.array() }
      assert.equals(200, response.status_code)
      local id = response.body.resources[1].id
      created[#created + 1] = id
      for c = 1, 2 do
        local comment = mc:add_case_activity { case_id = id, type = "comment", user_uuid = user,
          content = ("comment %d on case %d"):format(c, i) }
        assert.equals(200, comment.status_code)
      end
      assert.equals(200, mc:get_cases(id).status_code) -- a read between writes, faulted half the time
    end
    -- Exactly 12 cases with these titles, each with exactly its two comments.
    local found = mc:query_cases { filter = "case.title:*'exactly-once*'", limit = 500 }
    assert.equals(12, #found.body.resources)
    for _, id in ipairs(created) do
      local activities = mc:query_activities { case_id = id, filter = "activity.type:'comment'" }
      assert.equals(2, #activities.body.resources)
    end
    assert.equals(7, hits(429)) -- the storm and the four scheduled ones, each retried
    assert.is_true(hits(503) >= 6)
  end)
end)
