-- The one error module (falcon.base.errors): the shape of a caller's mistake, and a falcon.core.error made in Lua
-- that is one made in C in every way a caller can see.
local api = require "spec.helpers.api"
local errors = require "falcon.base.errors"
local falcon = require "falcon"

local function raised(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return err
end

describe("falcon.base.errors", function()
  it("raises a caller's mistake as 'falcon: <where>: <what>' with no position", function()
    assert.equal("falcon: Result:prune: bad argument 'substring' (string expected, got number)",
      raised(function() errors.bad_argument("Result:prune", "substring", "string expected, got number") end))
    assert.equal("falcon: EventStream: bad option 'app_id' (1-32 letters and digits expected, got x-y)",
      raised(function() errors.bad_option("EventStream", "app_id", "1-32 letters and digits expected, got x-y") end))
    assert.equal("falcon: pages: 3 of 4", raised(function() errors.raise("pages", "%d of %d", 3, 4) end))
    assert.equal("falcon: 100% sure", raised(function() errors.raise(nil, "100% sure") end))
  end)

  it("names an unknown option and suggests the close one", function()
    assert.equal("falcon: graphql_pages: unknown option 'rais' (did you mean 'raise'?)",
      raised(function() errors.unknown_option("graphql_pages", "rais", { "raise", "variables_key" }) end))
    assert.equal("falcon: x: unknown option 'zzzzzz'",
      raised(function() errors.unknown_option("x", "zzzzzz", { raise = true }) end))
    assert.equal("falcon: x: unknown option '1'", raised(function() errors.unknown_option("x", 1, { "a" }) end))
  end)

  it("builds a falcon.core.error in Lua with the C core's metatable", function()
    -- a refused connection: the C core's own error object
    local dead = falcon.MessageCenter { client_id = "a", client_secret = "b", base_url = "http://127.0.0.1:9", timeout = 5 }
    local from_c = dead:query_cases { limit = 1 }.transport_error
    assert.equal("connect", from_c.kind)
    local made = errors.core_error("auth", "no credentials", false)
    assert.equal(getmetatable(from_c), getmetatable(made))
    assert.equal("no credentials", tostring(made))
    assert.is_false(made.reached_server)
    assert.equal("auth", made.kind)
  end)

  it("gives the no-credentials answer a real falcon.core.error", function()
    local saved = { os.getenv("FALCON_CLIENT_ID"), os.getenv("FALCON_CLIENT_SECRET") }
    assert(saved[1] == nil and saved[2] == nil, "the suite runs without FALCON_CLIENT_ID/SECRET")
    local mc = falcon.MessageCenter { base_url = "http://127.0.0.1:9" }
    local response = mc:query_cases { limit = 1 }
    local err = response.transport_error
    assert.equal("auth", err.kind)
    assert.equal(err.message, tostring(err))
    local dead = falcon.MessageCenter { client_id = "a", client_secret = "b", base_url = "http://127.0.0.1:9", timeout = 5 }
    assert.equal(getmetatable(dead:query_cases { limit = 1 }.transport_error), getmetatable(err))
  end)

  it("keeps falcon.APIError and its constructors", function()
    local e = falcon.APIError.new { message = "m", status_code = 418 }
    assert.is_true(falcon.APIError.is(e))
    assert.is_true(errors.is(e))
    assert.equal(errors.APIError, falcon.APIError)
    assert.equal("falcon.APIError: [418] m", tostring(e))
  end)

  describe("login() and logout() (against the emulator)", function()
    local e
    setup(function() e = api.start() end)
    teardown(function() if e then e:stop() end end)

    it("return FalconPy's boolean, then the answer, and never raise (Result mode too)", function()
      for _, pythonic in ipairs { false, true } do
        local bad = falcon.MessageCenter(api.opts(e, { client_secret = "wrong", pythonic = pythonic }))
        local ok, response = bad:login()
        assert.is_false(ok)
        assert.equal(response.token_error.status, response.status_code)
        assert.is_true(response.status_code >= 400)
        assert.truthy(response.body.errors[1].message:find("token request failed", 1, true))
        local good = falcon.MessageCenter(api.opts(e, { pythonic = pythonic }))
        assert.is_true(good:login())
        local revoked, answer = good:logout()
        assert.is_true(revoked)
        assert.equal(200, answer.status_code)
      end
    end)
  end)
end)
