-- Debug logging (issue 5, item 4): every call is logged with method, route, status, duration (and
-- trace_id, retries for API calls), and no line ever carries a client secret, a token, or the Basic
-- header. The same workflow runs with a logger function (in process) and with debug = true (in a
-- child process whose stderr is captured), and every line of both is searched.
local child = require "spec.helpers.child"
local emulator = require "spec.helpers.emulator"

local GET_CASES = "/message-center/entities/cases/GET/v1"
local WRONG_SECRET = "WrongSecretThatMustNeverBeLogged0000000001"
local FORM_SECRET = "FormPasswordThatMustNeverBeLogged01"
local HEADER_SECRET = "HeaderPasswordThatMustNeverBeLogged02"

-- The workflow, as source text so that the child process runs exactly the same code. `debug` is the
-- value of the debug option; ENV holds the emulator's url and credentials.
local WORKFLOW = [==[
local ENV, debug_option = ...
local falcon = require "falcon"
local function opts(secret)
  return { client_id = ENV.id, client_secret = secret, base_url = ENV.url, debug = debug_option, timeout = 20 }
end
local mc = falcon.MessageCenter(opts(ENV.secret))
assert(mc:login(), "login failed")
local ids = mc:query_cases { limit = 2 }.body.resources
-- the parent armed a single 401 on this route: one renewal, one retry
assert(mc:get_cases(ids).status_code == 200, "get_cases after renewal failed")
-- form and header secrets of an upload (the emulator does not serve this collection: a 404)
falcon.QuickScanPro { auth_object = mc }:UploadFileQuickScanPro {
  file_data = "x", file_name = "a.txt", password = ENV.form_secret, ["X-File-Password"] = ENV.header_secret,
}
assert(mc:logout(), "logout failed")
local bad = falcon.MessageCenter(opts(ENV.wrong_secret))
assert(not bad:login(), "a wrong secret logged in")
local failed = bad:query_cases { limit = 1 }
assert(failed.status_code >= 400, "a call with a wrong secret did not fail: " .. tostring(failed.status_code))
]==]

local function base64_decode(s)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local bits = s:gsub("[^%w%+/]", ""):gsub(".", function(c)
    local v, out = alphabet:find(c, 1, true) - 1, ""
    for i = 5, 0, -1 do out = out .. (math.floor(v / 2 ^ i) % 2) end
    return out
  end)
  bits = bits:sub(1, #bits - #bits % 8) -- padding bits are not a byte
  return (bits:gsub("%d%d%d%d%d%d%d%d", function(byte) return string.char(tonumber(byte, 2)) end))
end

describe("debug logging", function()
  local e, env

  setup(function()
    e = emulator.start()
    env = { id = e.client_id, secret = e.client_secret, url = e.url, wrong_secret = WRONG_SECRET,
            form_secret = FORM_SECRET, header_secret = HEADER_SECRET }
  end)
  teardown(function() if e then e:stop() end end)

  before_each(function()
    e:control("reset", {})
    e:control("faults", { route = GET_CASES, status = 401, count = 1 })
  end)

  -- Everything that must never be logged, taken from what actually went over the wire.
  local function secrets()
    local list = { e.client_secret, WRONG_SECRET, FORM_SECRET, HEADER_SECRET }
    local tokens, basic = {}, nil
    for _, r in ipairs(e:requests()) do
      local auth = r.headers and r.headers["authorization"]
      if type(auth) == "string" then
        local token = auth:match("^Bearer (%S+)$")
        if token and not tokens[token] then tokens[token] = true; list[#list + 1] = token end
        local b = auth:match("^Basic (%S+)$")
        if b then basic = b end
      end
    end
    assert(next(tokens), "the log shows no bearer token: the workflow made no API call")
    assert(basic, "the log shows no Basic header: logout did not reach the emulator")
    assert.equal(e.client_id .. ":" .. e.client_secret, base64_decode(basic))
    list[#list + 1] = basic
    return list
  end

  local function check(lines, fields_text)
    local forbidden = secrets()
    for _, s in ipairs(forbidden) do
      assert(not (fields_text or ""):find(s, 1, true), "a secret was in the fields table (" .. s:sub(1, 6) .. "...)")
    end
    assert.is_true(#lines >= 7, "too few log lines:\n" .. table.concat(lines, "\n"))
    local api_calls, renewed = 0, false
    for _, line in ipairs(lines) do
      for _, s in ipairs(forbidden) do
        assert(not line:find(s, 1, true), "a secret was logged (" .. s:sub(1, 6) .. "...): " .. line)
      end
      assert(not line:find("Bearer", 1, true) and not line:find("Basic ", 1, true), "an auth header was logged: " .. line)
      assert.matches("method=%u+", line)
      assert.matches("route=/%S+", line)
      assert.matches("status=%d%d%d", line)
      assert.matches("duration=[%d%.]+s", line)
      assert.matches("retries=%d+", line)
      if not line:find("route=/oauth2/", 1, true) then
        api_calls = api_calls + 1
        assert.matches("trace_id=%S+", line)
      end
      if line:find("route=" .. GET_CASES .. " status=200", 1, true) and line:find("retries=1", 1, true) then
        renewed = true
      end
    end
    assert.is_true(api_calls >= 4, "expected at least 4 API call lines")
    assert.is_true(renewed, "no line shows the call retried after the 401 renewal")
  end

  it("a logger function gets clean lines (and fields) for every call", function()
    local lines, flat = {}, {}
    local run = assert((loadstring or load)(WORKFLOW))
    run(env, function(line, fields)
      lines[#lines + 1] = line
      -- a logger may print the fields table too: it must be as clean as the line
      for k, v in pairs(fields) do flat[#flat + 1] = tostring(k) .. "=" .. tostring(v) end
    end)
    check(lines, table.concat(flat, "\n"))
  end)

  it("debug = true writes the same clean lines to stderr", function()
    local code, _, err = child.run(WORKFLOW, env, 120, true)
    assert.equal(0, code, "the workflow failed in the child:\n" .. err)
    local lines = {}
    for line in err:gmatch("[^\n]+") do
      -- the decommission/TLS warnings are not call lines; everything else must be one
      if not line:find("^falcon: warning:") then
        assert.matches("^falcon: ", line)
        lines[#lines + 1] = line
      end
    end
    check(lines)
  end)

  describe("values from a server", function()
    local falcon = require "falcon"
    local QUERY = "/message-center/queries/cases/v1"
    -- ESC [2J clears a terminal, BEL rings it, CR rewrites the line; the space would forge a field.
    local HOSTILE = "t\27[2J\7\rx status=999"
    local ESCAPED = "t\\x1B[2J\\x07\\x0Dx\\x20status=999"

    local function client(lines)
      return falcon.MessageCenter { client_id = e.client_id, client_secret = e.client_secret, base_url = e.url,
                                    debug = function(line, fields) lines[#lines + 1] = { line, fields } end }
    end

    local function check_escaped(lines)
      local found = 0
      for _, entry in ipairs(lines) do
        local line, fields = entry[1], entry[2]
        assert.is_nil(line:find("[%c\128-\255]"), "a raw control character reached the log: " .. line)
        for _, v in pairs(fields) do
          if type(v) == "string" then assert.is_nil(v:find("[%c\128-\255]"), "a raw control character in the fields") end
        end
        if fields.trace_id == ESCAPED then
          found = found + 1
          assert.truthy(line:find(" trace_id=" .. ESCAPED .. " ", 1, true), line)
          assert.is_nil(line:find(" status=999", 1, true)) -- no forged field
        end
      end
      assert.equal(1, found)
    end

    it("a trace id with ESC, BEL and CR is logged escaped (blocking and falcon.parallel)", function()
      e:control("faults", { route = QUERY, headers = { ["X-Cs-Traceid"] = HOSTILE } })
      local lines = {}
      local mc = client(lines)
      assert.equal(200, mc:query_cases { limit = 1 }.status_code)
      check_escaped(lines)
      e:control("faults", { route = QUERY, headers = { ["X-Cs-Traceid"] = HOSTILE } })
      lines = {}
      mc = client(lines)
      local results = falcon.parallel { function() return mc:query_cases { limit = 1 }.status_code end,
                                        function() return mc:query_cases { limit = 2 }.status_code end }
      assert.same({ 200, 200 }, results)
      check_escaped(lines)
    end)

    it("an error's text from the server prints escaped", function()
      e:control("faults", { route = QUERY, kind = "rewrite", set = { ["errors.1.message"] = "bad\27]0;owned\7\r\nfake" } })
      local py = falcon.MessageCenter { client_id = e.client_id, client_secret = e.client_secret, base_url = e.url,
                                        pythonic = true }
      local ok, err = pcall(py.query_cases, py, { limit = 1, sort = "nope.asc" })
      assert.is_false(ok)
      assert.equal("bad\27]0;owned\7\r\nfake", err.message) -- the value itself is kept as sent
      local text = tostring(err)
      assert.is_nil(text:find("%c"), text)
      assert.truthy(text:find("bad\\x1B]0;owned\\x07\\x0D\\x0Afake", 1, true), text)
    end)
  end)

  -- Warnings (TLS verification off, a decommissioned operation) go through the client's logger: given a
  -- `debug` function, it receives them and nothing reaches stderr; without one they print on stderr.
  local WARNINGS = [==[
local ENV, with_logger = ...
local falcon = require "falcon"
local got = {}
local opts = { client_id = ENV.id, client_secret = ENV.secret, base_url = ENV.url, ssl_verify = false, timeout = 20 }
if with_logger then opts.debug = function(line, fields) if fields.warning then got[#got + 1] = line end end end
local mc = falcon.MessageCenter(opts)
local uber = falcon.APIHarnessV2 { auth_object = mc }
local case_id = mc:query_cases { limit = 1 }.body.resources[1]
for _ = 1, 2 do
  assert(mc:UpdateCase { id = case_id, content = "u" }.status_code == 200)
  assert(uber:command("UpdateCase", { body = { id = case_id, content = "u" } }).status_code == 200)
end
io.write(table.concat(got, "\n"))
]==]

  it("sends warnings to the client's logger, and nothing to stderr", function()
    local code, out, err = child.run(WARNINGS, env, 120, true)
    assert.equal(0, code, "the child failed:\n" .. err)
    assert.equal("", err)
    assert.equal("warning: TLS certificate verification is off (ssl_verify = false)\n"
      .. "warning: UpdateCase (PATCH /message-center/entities/case/v1) is decommissioned upstream and may stop "
      .. "working at any time", out)
  end)

  it("prints warnings on stderr when no logger is given, each once", function()
    local code, out, err = child.run(WARNINGS, env, 120, false)
    assert.equal(0, code, "the child failed:\n" .. err)
    assert.equal("", out)
    assert.equal("falcon: warning: TLS certificate verification is off (ssl_verify = false)\n"
      .. "falcon: warning: UpdateCase (PATCH /message-center/entities/case/v1) is decommissioned upstream and may "
      .. "stop working at any time\n", err)
  end)
end)
