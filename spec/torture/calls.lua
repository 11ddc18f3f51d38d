--- The SDK calls `make torture` fails allocations in (spec/torture/harness.lua), against the emulator,
-- and a fresh JSON decoder's first document.
-- Each call has:
--   prepare(fx)        outside the window: its object, warm (token held, a connection kept, a decoder in
--                      the pool), and the answer a call with nothing failing gives (the right data)
--   run(st)            the call itself, inside the window; returns what the SDK returned
--   check(st, ...)     true when what run returned is the right data; else nil, why
--   again(st)          the next call on the same object (default: run)
--   cleanup(st)        closes what prepare and run made
-- and may have partial(st, ...) -> true when a failure of some of its parts is clean (falcon.parallel).
local emu = require "spec.helpers.emulator"
local falcon = require "falcon"
local json = require "falcon.json"

local calls = {}

-- The client options of every object: retries on, but quick (a failure that is retried must not make
-- the torture wait).
local function options(fx)
  return { client_id = fx.client_id, client_secret = fx.client_secret, base_url = fx.url, timeout = 20,
           retry_backoff = 0.001, retry_backoff_max = 0.002 }
end

local function ids_of(response)
  if type(response) ~= "table" or response.status_code ~= 200 or type(response.body) ~= "table" then return nil end
  local out = {}
  for i, item in ipairs(response.body.resources or {}) do out[i] = type(item) == "table" and item.id or item end
  return table.concat(out, ",")
end

local function describe(response)
  if type(response) ~= "table" then return "a " .. type(response) end
  local err = response.transport_error
  return ("status %s%s"):format(tostring(response.status_code), err and (" (" .. tostring(err.message) .. ")") or "")
end

-- The same ids, in the same order, as the warm call's answer.
local function same_ids(st, response)
  local got = ids_of(response)
  if got ~= nil and got == st.expected then return true end
  return nil, ("expected %s, got %s"):format(st.expected, got or describe(response))
end

local function warm(fx, call)
  local st = { mc = falcon.MessageCenter(options(fx)), fx = fx }
  st.expected = assert(ids_of(call(st)), "the warm call failed")
  return st
end

local function close(st)
  if st.mc then st.mc._client:close() end
  if st.fresh then st.fresh._client:close() end
end

local function query(st) return st.mc:query_cases { limit = 3 } end
local function get_cases(st) return st.mc:get_cases(st.fx.case_ids) end

calls.query = {
  prepare = function(fx) return warm(fx, query) end,
  run = query,
  check = same_ids,
  cleanup = close,
}

-- Several cases: a body over 1 KB, which the emulator sends gzip-compressed (zlib decodes it).
calls.get_cases = {
  prepare = function(fx) return warm(fx, get_cases) end,
  run = get_cases,
  check = same_ids,
  cleanup = close,
}

-- A multipart upload streamed from a file.
calls.upload = {
  prepare = function(fx)
    local st = warm(fx, query)
    st.expected = "one new attachment"
    return st
  end,
  run = function(st)
    return st.mc:add_case_attachment { case_id = st.fx.upload_case, user_uuid = st.fx.user_uuid,
                                       file_path = st.fx.upload_path }
  end,
  check = function(_, response)
    local id = type(response) == "table" and response.status_code == 200 and response.body.resources[1].id
    if type(id) == "string" and #id > 0 then return true end
    return nil, "no attachment id: " .. describe(response)
  end,
  cleanup = close,
}

-- A download streamed to a file (save_to): the file holds the bytes, and nothing else is left beside it.
calls.download = {
  prepare = function(fx)
    os.remove(fx.download_path)
    local st = warm(fx, query)
    st.expected = "the attachment's bytes"
    return st
  end,
  run = function(st)
    return st.mc:download_case_attachment { id = st.fx.attachment_id, save_to = st.fx.download_path }
  end,
  check = function(st, response)
    local saved = emu.read_file(st.fx.download_path)
    os.remove(st.fx.download_path)
    if type(response) == "table" and response.status_code == 200 and saved == st.fx.attachment_bytes then return true end
    return nil, ("%s, file %s"):format(describe(response), saved and (#saved .. " bytes") or "absent")
  end,
  cleanup = close,
}

-- Four tasks on one client under falcon.parallel (the curl multi driver).
calls.parallel = {
  prepare = function(fx)
    local st = warm(fx, query)
    st.expected_query, st.expected_cases = st.expected, ids_of(get_cases(st))
    st.expected = "four right answers"
    return st
  end,
  run = function(st)
    return falcon.parallel({ function() return query(st) end, function() return get_cases(st) end,
                             function() return query(st) end, function() return get_cases(st) end }, { max = 4 })
  end,
  check = function(st, results, errors)
    if errors ~= nil then return nil, "task errors" end
    for i = 1, 4 do
      local want = i % 2 == 1 and st.expected_query or st.expected_cases
      if ids_of(results and results[i]) ~= want then return nil, "task " .. i .. ": " .. describe(results and results[i]) end
    end
    return true
  end,
  -- Each task either answered right, or failed cleanly (is_clean: a memory error raised, or a transport
  -- error returned).
  partial = function(st, results, errors, is_clean)
    for i = 1, 4 do
      local want = i % 2 == 1 and st.expected_query or st.expected_cases
      local result, err = results and results[i], errors and errors[i]
      if not (ids_of(result) == want or is_clean(err) or is_clean(result)) then return false end
    end
    return true
  end,
  cleanup = close,
}

-- A new object and its first call: the client is made, the token requested, then the query sent.
calls.first_call = {
  prepare = function(fx)
    local st = warm(fx, query)
    st.mc._client:close()
    st.mc = nil
    return st
  end,
  run = function(st)
    st.fresh = falcon.MessageCenter(options(st.fx))
    return st.fresh:query_cases { limit = 3 }
  end,
  check = same_ids,
  again = function(st)
    if st.fresh then return st.fresh:query_cases { limit = 3 } end
    return calls.first_call.run(st)
  end,
  cleanup = close,
}

-- A fresh JSON decoder's first document: yajl makes its parser, its lexer's buffer (a token split
-- across two pieces) and its string buffer (escapes); then the same text through json.decode.
local JSON_TEXT = '{"meta":{"total":66,"query_time":0.125},"resources":[{"id":"a\\"b\\u00e9","tags":[1,2,3]},'
  .. '{"id":"second","tags":[],"note":null,"open":true}],"errors":[]}'

local function decode_both(st)
  local half = math.floor(#JSON_TEXT / 2)
  local ok, err = st.decoder:feed(JSON_TEXT:sub(1, half))
  if ok then ok, err = st.decoder:feed(JSON_TEXT:sub(half + 1)) end
  if ok then ok, err = st.decoder:finish() end
  if not ok then return nil, err end
  return st.decoder:next(), json.decode(JSON_TEXT)
end

local function decoded_right(value)
  return type(value) == "table" and value.meta.total == 66 and value.resources[1].id == 'a"b\195\169'
    and #value.resources[1].tags == 3 and value.resources[2].note == json.null and json.is_array(value.errors)
end

calls.json = {
  prepare = function() return { decoder = json.decoder(), expected = "the document, twice" } end,
  run = decode_both,
  check = function(_, streamed, decoded)
    if decoded_right(streamed) and decoded_right(decoded) then return true end
    return nil, "not the document"
  end,
  again = function(st) -- a decoder's failure is final: the next document gets a new one
    st.decoder:close()
    st.decoder = json.decoder()
    return decode_both(st)
  end,
  cleanup = function(st) st.decoder:close() end,
}

calls.order = { "query", "get_cases", "upload", "download", "parallel", "first_call", "json" }

return calls
