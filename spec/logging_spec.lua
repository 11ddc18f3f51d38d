-- Debug logging (issue 5, item 4): every call is logged with method, route, status, duration (and
-- trace_id, retries for API calls), and no line ever carries a client secret, a token, or the Basic
-- header. The same workflow runs with a logger function (in process) and with debug = true (in a
-- child process whose stderr is captured), and every line of both is searched.
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
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. emulator.quote(dir)))
    local script = dir .. "/workflow.lua"
    local f = assert(io.open(script, "w"))
    local env_source = {}
    for k, v in pairs(env) do env_source[#env_source + 1] = ("%s = %q"):format(k, v) end
    f:write("local run = assert((loadstring or load)(", ("%q"):format(WORKFLOW), "))\n",
      "run({ ", table.concat(env_source, ", "), " }, true)\n")
    f:close()
    local vm = require "spec.helpers.vm"
    local prefix = ""
    -- under check-asan (or valgrind) the child runs uninstrumented, on the plain build
    if os.getenv("LD_PRELOAD") then prefix = "unset LD_PRELOAD; " end
    if os.getenv("FALCON_PLAIN_CPATH") then
      prefix = prefix .. "LUA_CPATH=" .. emulator.quote(os.getenv("FALCON_PLAIN_CPATH")) .. " "
    end
    local _, code = emulator.run(prefix .. vm .. " " .. emulator.quote(script) .. " 2>" .. emulator.quote(dir .. "/stderr"))
    local err = assert(io.open(dir .. "/stderr")):read("*a")
    emulator.run("rm -rf " .. emulator.quote(dir))
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
end)
