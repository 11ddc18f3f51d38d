-- The token endpoint's answer (csrc/token.c: yajl, the core's one JSON parser, with callbacks that keep the
-- token in C) under every driver's C path: client:perform on the blocking handle and multi:add on the curl
-- multi handle, both against spec/helpers/hostile_server.c over real HTTP, and client:exchange fed the
-- same bytes as the cosocket driver feeds it. An answer is a token only when it is exactly one JSON object
-- whose access_token is an RFC 6750 b64token of at most 8 KiB; expires_in, when present, is a number,
-- and a lifetime is bounded to a day. Anything else is refused as an auth error that never shows the token.
-- No timing assertions: this spec also runs under valgrind.
local core = require "falcon.core"
local hostile = require "spec.helpers.hostile"

local DAY, DEFAULT = 86400, 1799

local function nested(levels) return ("["):rep(levels) .. ("]"):rep(levels) end

-- { name, answer body, expected }: expected is a token and its lifetime, or a pattern of the refusal.
local CASES = {
  { "a plain answer", '{"access_token":"abc.def","expires_in":1799,"token_type":"bearer"}',
    { token = "abc.def", lifetime = 1799 } },
  { "a token whose '/' is escaped", '{"access_token":"ab\\/c+d~_-==","expires_in":600}',
    { token = "ab/c+d~_-==", lifetime = 600 } },
  { "a key written with an escape", '{"access\\u005ftoken":"k3y","expires_in":60}', { token = "k3y", lifetime = 60 } },
  { "other fields of every kind", '{"a":[1,{"b":null}],"t":true,"s":"\\u00e9","access_token":"x","n":-1.5e3}',
    { token = "x", lifetime = DEFAULT } },
  { "a lifetime of a year", '{"access_token":"abc","expires_in":31536000}', { token = "abc", lifetime = DAY } },
  { "a lifetime past a double", '{"access_token":"abc","expires_in":1e999}', { token = "abc", lifetime = DAY } },
  { "a negative lifetime", '{"access_token":"abc","expires_in":-5}', { token = "abc", lifetime = DEFAULT } },
  { "a token of 8192 bytes", '{"access_token":"' .. ("a"):rep(8192) .. '"}', { token = ("a"):rep(8192), lifetime = DEFAULT } },
  { "63 levels inside the answer", '{"inner":' .. nested(63) .. ',"access_token":"abc"}', { token = "abc", lifetime = DEFAULT } },

  { "a token with CR LF", '{"access_token":"abc\\r\\nX-Injected: 1","expires_in":1799}', "characters a bearer token cannot have" },
  { "a token with a space", '{"access_token":"a b"}', "characters a bearer token cannot have" },
  { "a token with a NUL", '{"access_token":"abc\\u0000def"}', "characters a bearer token cannot have" },
  { "a token that starts with padding", '{"access_token":"=abc"}', "characters a bearer token cannot have" },
  { "an empty token", '{"access_token":""}', "or is empty" },
  { "a token of 8193 bytes", '{"access_token":"' .. ("a"):rep(8193) .. '"}', "longer than 8192 bytes" },
  { "a token that is a number", '{"access_token":12345}', "access_token is not a string" },
  { "a token that is an object", '{"access_token":{"value":"abc"}}', "access_token is not a string" },
  { "two tokens", '{"access_token":"abc","access_token":"def"}', "access_token is named twice" },
  { "a token only in a nested object", '{"data":{"access_token":"abc"}}', "has no access_token" },
  { "no token", '{"expires_in":1799}', "has no access_token" },
  { "an empty object", "{}", "has no access_token" },
  { "a lifetime that is a string", '{"access_token":"abc","expires_in":"1799"}', "expires_in is not a number" },
  { "a lifetime that is null", '{"access_token":"abc","expires_in":null}', "expires_in is not a number" },
  { "two lifetimes", '{"access_token":"abc","expires_in":1,"expires_in":2}', "expires_in is named twice" },
  { "a lifetime of 64 digits", '{"access_token":"abc","expires_in":' .. ("1"):rep(64) .. "}", "longer than a number" },
  { "64 levels inside the answer", '{"inner":' .. nested(64) .. ',"access_token":"abc"}', "nested deeper than 64 levels" },
  { "an array", '[{"access_token":"abc"}]', "not a JSON object" },
  { "a string", '"abc"', "not a JSON object" },
  { "an empty body", "", "not valid JSON" },
  { "a truncated object", '{"access_token":"abc"', "not valid JSON" },
  { "bytes after the object", '{"access_token":"abc"} {"access_token":"def"}', "not valid JSON" },
  { "a trailing comma", '{"access_token":"abc",}', "not valid JSON" },
  { "invalid UTF-8 in another field", '{"note":"\255","access_token":"abc"}', "not valid JSON" },
  { "a comment", '{"access_token":"abc" /* x */}', "not valid JSON" },
}

local function answer(body)
  return "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end

-- The Authorization line the client would send now (the cosocket driver's request head, built in C).
local function bearer(c)
  local ex = assert(c:exchange("api", { method = "GET", route = "/x" }))
  local line = ex:head():match("\r\nAuthorization: Bearer ([^\r]*)\r\n")
  ex:close()
  return line
end

-- What a driver gave back: the values of kind_finish for a token exchange.
local function check(c, case, status, headers, body, info)
  local name, text, expected = case[1], case[2], case[3]
  if type(expected) == "table" then
    assert.equals(201, status, name)
    assert.is_nil(body, name) -- the token stays in C
    assert.equals(expected.lifetime, info.expires_in, name)
    assert.is_true(c:token_info().has_token, name)
    assert.equals(expected.token, bearer(c), name)
    return
  end
  local err = headers
  assert.is_nil(status, name)
  assert.equals("auth", err.kind, name)
  assert.is_true(err.reached_server, name)
  assert.matches("the token endpoint answered without a usable access_token (", err.message, 1, true)
  assert.truthy(err.message:find(expected, 1, true), name .. ": " .. err.message)
  assert.is_false(c:token_info().has_token, name)
  -- Nothing of the answer is repeated in the error (the token of the refused answer may be a real one).
  for word in text:gmatch("[%w_]+") do
    if #word >= 3 and word ~= "access_token" and word ~= "expires_in" then
      assert.is_nil(err.message:find(word, 1, true), name .. ": " .. word .. " in " .. err.message)
    end
  end
end

local function client(url)
  return core.client { base_url = url or "http://127.0.0.1:9", client_id = "id", client_secret = "secret" }
end

describe("the token endpoint's answer", function()
  local server

  -- One server for all: each request takes the next answer of the plan.
  before_each(function()
    local plan = {}
    for i = 1, #CASES do plan[i] = "bytes answer" .. i end
    server = hostile.start(plan)
    for i, case in ipairs(CASES) do server:file("answer" .. i, answer(case[2])) end
  end)
  after_each(function() server:stop() end)

  it("is read the same on the blocking handle (client:perform)", function()
    for _, case in ipairs(CASES) do
      local c = client(server.url)
      check(c, case, c:perform("token"))
      c:close()
    end
  end)

  it("is read the same on the curl multi handle (multi:add)", function()
    local multi = core.multi(1)
    for _, case in ipairs(CASES) do
      local c = client(server.url)
      local transfer = assert(multi:add(c, "token"))
      local finished = {}
      while #finished == 0 do finished = multi:perform(0.5) end
      assert.equals(transfer, finished[1])
      check(c, case, transfer:result())
      c:close()
    end
    multi:close()
  end)
end)

describe("the token endpoint's answer, fed by a socket driver", function()
  it("is read the same from bytes a socket driver feeds (client:exchange)", function()
    for _, case in ipairs(CASES) do
      local c = client()
      local ex = assert(c:exchange("token"))
      local bytes = answer(case[2])
      assert.equals("more", ex:feed(bytes:sub(1, 40))) -- in two pieces, as a socket may deliver it
      assert.equals("done", ex:feed(bytes:sub(41)))
      check(c, case, ex:result())
      c:close()
    end
  end)

  it("replaces a held token only when the new answer is a token", function()
    local c = client()
    local function login(body)
      local ex = assert(c:exchange("token"))
      ex:feed(answer(body))
      return ex:result()
    end
    assert.equals(201, (login('{"access_token":"first","expires_in":1799}')))
    assert.is_nil((login('{"access_token":"second","access_token":"third"}')))
    assert.equals("first", bearer(c)) -- a refused answer leaves the token held before
    c:close()
  end)
end)
