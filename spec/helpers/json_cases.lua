-- JSON answers run under every driver (spec/json_decode_spec.lua): the blocking libcurl driver and curl
-- multi in the busted process, the cosocket driver inside nginx (spec/helpers/ngx_app.lua). The emulator's
-- body fault answers a case query with exactly the bytes of `body` (application/json, Content-Length);
-- `outcome` reduces the response to values every driver must agree on, with numbers shown with their
-- type, arrays told from objects, and strings as printable ASCII.
local M = {}

M.ROUTE = "/message-center/queries/cases/v1"

local function nest(levels) return ("["):rep(levels) .. ("]"):rep(levels) end

-- A string with every byte that is not printable ASCII as \xHH.
local function printable(s)
  return (s:gsub("[^ -~]", function(c) return ("\\x%02x"):format(c:byte()) end))
end

--- A canonical text of a decoded value: i66 (integer), f66 (float), n66 (a LuaJIT number), s:text,
--- null, [..] for a table marked as an array, {k=..} (keys sorted) for any other table.
function M.show(v)
  local json = require "falcon.json"
  local t = type(v)
  if v == json.null then return "null" end
  if t == "number" then
    local kind = math.type and (math.type(v) == "integer" and "i" or "f") or "n"
    return kind .. (kind == "i" and tostring(v) or ("%.14g"):format(v))
  end
  if t == "string" then return "s:" .. printable(v) end
  if t ~= "table" then return tostring(v) end
  local parts = {}
  if json.is_array(v) then
    for i = 1, #v do parts[i] = M.show(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. M.show(x) end
  table.sort(parts)
  return "{" .. table.concat(parts, ",") .. "}"
end

local BIG = '{"pad":"' .. ("x"):rep(70 * 1024) .. '"' -- longer than the 64 KiB a non-2xx keeps: still an error

-- expect: the outcome's body (or, for a failure, the error kind and a word its message must hold);
-- `jit` when LuaJIT's numbers read differently.
M.list = {
  { name = "integers", body = '{"total":66,"code":404,"ms":1700000000000,"neg":-5,"zero":0}',
    expect = "{code=i404,ms=i1700000000000,neg=i-5,total=i66,zero=i0}",
    jit = "{code=n404,ms=n1700000000000,neg=n-5,total=n66,zero=n0}" },
  { name = "floats", body = "[66.0,0.5,1e3,-2.5E-3,1.5e300]",
    expect = "[f66,f0.5,f1000,f-0.0025,f1.5e+300]", jit = "[n66,n0.5,n1000,n-0.0025,n1.5e+300]",
    -- the encoder (lua-cjson) writes 66.0 as 66 and keeps 14 significant digits
    roundtrip = "[i66,f0.5,i1000,f-0.0025,f1.5e+300]" },
  { name = "big integers", body = "[9223372036854775807,-9223372036854775808,9223372036854775808,"
      .. "-9223372036854775809,123456789012345678901234567890]",
    expect = "[i9223372036854775807,i-9223372036854775808,f9.2233720368548e+18,f-9.2233720368548e+18,"
      .. "f1.2345678901235e+29]",
    jit = "[n9.2233720368548e+18,n-9.2233720368548e+18,n9.2233720368548e+18,n-9.2233720368548e+18,"
      .. "n1.2345678901235e+29]",
    roundtrip = "[f9.2233720368548e+18,f-9.2233720368548e+18,f9.2233720368548e+18,f-9.2233720368548e+18,"
      .. "f1.2345678901235e+29]" },
  { name = "empty arrays and objects", body = '{"errors":[],"meta":{},"resources":[[],{},[{}],{"a":[]}]}',
    expect = "{errors=[],meta={},resources=[[],{},[{}],{a=[]}]}" },
  { name = "null", body = '{"a":null,"b":[null,1,null]}', expect = "{a=null,b=[null,i1,null]}",
    jit = "{a=null,b=[null,n1,null]}" },
  { name = "unicode escapes", body = '["\\u00e9","\\ud83d\\ude00","a\\u0000b","\\"\\\\\\/\\n","caf\195\169"]',
    expect = "[s:\\xc3\\xa9,s:\\xf0\\x9f\\x98\\x80,s:a\\x00b,s:\"\\/\\x0a,s:caf\\xc3\\xa9]" },
  -- Not JSON (RFC 8259 text is UTF-8): a 2xx that says JSON and is not is an error, whatever its size.
  { name = "invalid UTF-8", body = '["ok","\255\254"]', fails = "json", says = "invalid bytes in UTF8 string" },
  { name = "a truncated JSON text is an error", body = '{"resources":[1,2', fails = "json", says = "premature EOF" },
  { name = "a large invalid answer is an error", body = BIG, fails = "json", says = "invalid JSON" },
  { name = "nesting at the default limit", body = nest(1000), expect = ("["):rep(1000) .. ("]"):rep(1000) },
  { name = "nesting past the default limit", body = nest(1001), fails = "json", says = "json_max_depth (1000" },
  { name = "nesting at a chosen limit", body = nest(5), options = { json_max_depth = 5 }, expect = "[[[[[]]]]]" },
  { name = "nesting past a chosen limit", body = nest(6), options = { json_max_depth = 5 }, fails = "json",
    says = "json_max_depth (5" },
  { name = "a string past the limit", body = '["0123456789"]', options = { json_max_string = 9 }, fails = "json",
    says = "json_max_string (9" },
  { name = "a body past the size limit", body = "[" .. ("1,"):rep(60) .. "1]", options = { json_max_size = 100 },
    fails = "json", says = "json_max_size (100" },
  -- The connection closes before the announced length: a transport failure, as before.
  { name = "a body cut short by the server", truncate = 8, fails = "connection", says = "" },
}

M.by_name = {}
for _, case in ipairs(M.list) do M.by_name[case.name] = case end

--- The emulator faults that make the case's answer.
function M.faults(case)
  if case.truncate then return { { route = M.ROUTE, kind = "truncate", bytes = case.truncate, count = 1 } } end
  return { { route = M.ROUTE, kind = "malformed", body = case.body, count = 1 } }
end

--- Runs the case's request with a fresh client (falcon.client) built from `base` options.
function M.run(Client, case, base)
  local json = require "falcon.json"
  local opts = { max_retries = 0 }
  for k, v in pairs(base) do opts[k] = v end
  for k, v in pairs(case.options or {}) do opts[k] = v end
  local client = Client.new(opts)
  local r = client:request { method = "GET", route = M.ROUTE, query = { { "limit", 1 } } }
  client:close()
  local err = r.transport_error
  if err then return { status = r.status_code, kind = err.kind, message = err.message } end
  local out = { status = r.status_code, body = M.show(r.body) }
  -- falcon.json.encode of any answer round-trips: [] stays [], {} stays {}.
  if type(r.body) == "table" then out.roundtrip = M.show(json.decode(json.encode(r.body))) end
  return out
end

--- Checks an outcome against the case (VM "jit" for LuaJIT, else "lua"); returns true or false, why.
function M.check(case, outcome, vm)
  if case.fails then
    if outcome.kind ~= case.fails then return false, "kind " .. tostring(outcome.kind) end
    if not tostring(outcome.message):find(case.says, 1, true) then return false, "message " .. tostring(outcome.message) end
    return true
  end
  local want = vm == "jit" and case.jit or case.expect
  if outcome.status ~= 200 then return false, "status " .. tostring(outcome.status) .. " " .. tostring(outcome.message) end
  if outcome.body ~= want then return false, "body " .. tostring(outcome.body) .. " ~= " .. want end
  local round = vm ~= "jit" and case.roundtrip or want
  if outcome.roundtrip and outcome.roundtrip ~= round then return false, "round trip " .. outcome.roundtrip end
  return true
end

return M
