-- Test helper: start/stop a private Falcon API emulator and talk to its control API.
-- Works under Lua 5.4 and LuaJIT; shells out to emulator/falcon-emulator and the curl CLI.
--
--   local emu = require "spec.helpers.emulator"
--   local e = emu.start{ token_lifetime = 2, seed = { cases = 100 } }
--   e.url, e.tls_url, e.ca, e.client_id, e.client_secret, e.regions["us-2"], e.dir
--   e:control("faults", { route = "/oauth2/token", status = 503 })
--   e:requests() ; e:clear_log() ; e:stop()
--   e:http{ method = "GET", path = "/message-center/queries/cases/v1", query = {{"limit", 5}},
--           token = "...", headers = {...}, json = "<encoded>", body = "...", form = {...} }
--     -> { status, headers (lowercased), body, json (decoded or nil), curl_exit }
local cjson = require "cjson"

local M = {}

local START_OPTIONS = {
    clients = true, token_lifetime = true, rate_limit = true, seed = true, strict_regions = true,
    log_limit = true, log_body_cap = true, attachment_max_bytes = true, streams = true,
}

local function quote(s)
    return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = quote

local function repo_root()
    local source = debug.getinfo(1, "S").source:gsub("^@", "")
    local root = source:match("^(.*)/spec/helpers/emulator%.lua$")
    if not root then
        root = "."
    end
    if root:sub(1, 1) ~= "/" then
        root = (os.getenv("PWD") or ".") .. "/" .. root
    end
    return root
end

local SCRIPT = repo_root() .. "/emulator/falcon-emulator"
M.script = SCRIPT

-- Runs a shell command; returns its stdout and exit status (portable across 5.1 and 5.4).
local function run(command)
    -- Under `make check-asan` the interpreter runs with the sanitizer preloaded; the tools it starts
    -- (curl, nginx) must not inherit it.
    if os.getenv("LD_PRELOAD") then command = "unset LD_PRELOAD; " .. command end
    local pipe = assert(io.popen(command .. "; printf '\\n%s' \"$?\"", "r"))
    local out = pipe:read("*a")
    pipe:close()
    local text, code = out:match("^(.*)\n(%d+)$")
    return text or out, tonumber(code) or -1
end
M.run = run

local function read_file(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local data = f:read("*a")
    f:close()
    return data
end
M.read_file = read_file

local function write_file(path, data)
    local f = assert(io.open(path, "wb"))
    f:write(data)
    f:close()
end

M.write_file = write_file

local function parse_env(path)
    local env = {}
    for line in (read_file(path) or ""):gmatch("[^\n]+") do
        local k, v = line:match("^export ([%w_]+)='(.*)'$")
        if k then env[k] = v end
    end
    return env
end

local Emulator = {}
Emulator.__index = Emulator

local function from_dir(dir, owned)
    local env = parse_env(dir .. "/env")
    if not env.FALCON_EMULATOR_URL then
        return nil
    end
    local e = setmetatable({
        dir = dir,
        owned = owned,
        url = env.FALCON_EMULATOR_URL,
        tls_url = env.FALCON_EMULATOR_TLS_URL,
        ca = env.FALCON_EMULATOR_CA,
        proxy_url = env.FALCON_EMULATOR_PROXY_URL,
        client_id = env.FALCON_CLIENT_ID,
        client_secret = env.FALCON_CLIENT_SECRET,
        regions = {},
        seq = 0,
    }, Emulator)
    for k, v in pairs(env) do
        local region = k:match("^FALCON_EMULATOR_REGION_(.+)$")
        if region then
            e.regions[region:lower():gsub("_", "-")] = v
        end
    end
    return e
end

--- Starts a private emulator instance. opts: clients, token_lifetime, rate_limit = {limit, window},
-- seed = {seed, cases, ...}, strict_regions, log_limit, log_body_cap, attachment_max_bytes.
-- With FALCON_EMULATOR_DIR naming a running instance and no opts, that instance is reused (and
-- left running by e:stop()).
function M.start(opts)
    opts = opts or {}
    for k in pairs(opts) do
        if not START_OPTIONS[k] then
            error("emulator.start: unknown option '" .. tostring(k) .. "'", 2)
        end
    end
    local shared = os.getenv("FALCON_EMULATOR_DIR")
    if shared and shared ~= "" and next(opts) == nil then
        local _, code = run(quote(SCRIPT) .. " status --dir " .. quote(shared) .. " >/dev/null 2>&1")
        local e = code == 0 and from_dir(shared, false)
        if e then return e end
    end
    local dir = run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-emu.XXXXXX\""):gsub("%s+$", "")
    assert(dir ~= "", "mktemp failed")
    -- $PPID of the shell io.popen runs is this Lua process: the instance dies with it.
    local owner = run("echo $PPID"):gsub("%s+$", "")
    local command = quote(SCRIPT) .. " start --dir " .. quote(dir) .. " --owner-pid " .. owner
    if next(opts) ~= nil then
        write_file(dir .. "/start-config.json", cjson.encode(opts))
        command = command .. " --config " .. quote(dir .. "/start-config.json")
    end
    local out, code = run(command .. " 2>&1")
    local e = code == 0 and from_dir(dir, true)
    if not e then
        run("rm -rf " .. quote(dir))
        error("emulator failed to start: " .. out, 2)
    end
    return e
end

local function urlencode(s)
    return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
M.urlencode = urlencode

--- One HTTP request with the curl CLI. req: method, path (or url), query (list of {k, v}), headers
-- (table), token (bearer), body (string), json (string, sent as application/json), form (list of
-- {name, value} or {name, path, filename, type}), base (defaults to e.url), timeout (seconds),
-- save (file path for the body; then resp.body is nil).
function Emulator:http(req)
    self.seq = self.seq + 1
    local tag = self.dir .. "/http-" .. self.seq
    local url = req.url or ((req.base or self.url) .. req.path)
    if req.query then
        local parts = {}
        for i, pair in ipairs(req.query) do
            parts[i] = urlencode(pair[1]) .. "=" .. urlencode(pair[2])
        end
        url = url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(parts, "&")
    end
    -- `timeout` backs up --max-time: a curl stuck before connecting never reaches its own timer.
    local limit = req.timeout or 30
    local args = { "timeout", "-k", "2", tostring(limit + 5), "curl", "-sS", "-X", quote(req.method or "GET"),
                   "-o", quote(req.save or (tag .. ".body")),
                   "-D", quote(tag .. ".headers"), "-w", quote("%{http_code}"),
                   "--max-time", tostring(limit) }
    if url:match("^https:") then
        args[#args + 1] = "--cacert " .. quote(self.ca)
    end
    local headers = {}
    for k, v in pairs(req.headers or {}) do headers[#headers + 1] = k .. ": " .. v end
    if req.token then headers[#headers + 1] = "Authorization: Bearer " .. req.token end
    local body = req.body
    if req.json then
        body = req.json
        headers[#headers + 1] = "Content-Type: application/json"
    end
    for _, h in ipairs(headers) do args[#args + 1] = "-H " .. quote(h) end
    if body then
        write_file(tag .. ".req", body)
        args[#args + 1] = "--data-binary " .. quote("@" .. tag .. ".req")
    end
    for _, part in ipairs(req.form or {}) do
        local spec
        if part.path then
            spec = part.name .. "=@" .. part.path .. (part.filename and (";filename=" .. part.filename) or "")
                .. (part.type and (";type=" .. part.type) or "")
        else
            spec = part.name .. "=" .. part.value
        end
        args[#args + 1] = "-F " .. quote(spec)
    end
    args[#args + 1] = quote(url)
    local out, code = run(table.concat(args, " ") .. " 2>" .. quote(tag .. ".err"))
    local resp = {
        status = tonumber(out:match("(%d%d%d)%s*$")) or 0,
        curl_exit = code,
        curl_error = read_file(tag .. ".err"),
        headers = {},
    }
    -- With redirects or 100-continue there may be several header blocks; keep the last.
    local raw = read_file(tag .. ".headers") or ""
    local last_block = raw:match(".*\r\n\r\n(HTTP/.-)\r\n\r\n$") or raw
    for line in last_block:gmatch("[^\r\n]+") do
        local k, v = line:match("^([^:]+):%s*(.*)$")
        if k then resp.headers[k:lower()] = v end
    end
    if not req.save then
        resp.body = read_file(tag .. ".body") or ""
        local ok, decoded = pcall(cjson.decode, resp.body)
        if ok then resp.json = decoded end
    end
    os.remove(tag .. ".body"); os.remove(tag .. ".headers"); os.remove(tag .. ".err"); os.remove(tag .. ".req")
    return resp
end

--- POST /_emulator/<path> with `body` (a table, JSON-encoded) and return the decoded answer.
function Emulator:control(path, body)
    self.seq = self.seq + 1
    local file = self.dir .. "/control-" .. self.seq .. ".json"
    write_file(file, body and next(body) ~= nil and cjson.encode(body) or "{}")
    local out, code = run("timeout -k 2 65 curl -sS --max-time 60 -X POST -H 'Content-Type: application/json' --data-binary "
        .. quote("@" .. file) .. " " .. quote(self.url .. "/_emulator/" .. path) .. " 2>&1")
    os.remove(file)
    if code ~= 0 then
        error("emulator control " .. path .. " failed: " .. out, 2)
    end
    local ok, decoded = pcall(cjson.decode, out)
    if not ok then
        error("emulator control " .. path .. ": not JSON: " .. out, 2)
    end
    if decoded.error then
        error("emulator control " .. path .. ": " .. tostring(decoded.error), 2)
    end
    return decoded
end

--- Event Streams from a clean start: no faults, `streams` as the settings, fresh sessions and event clock.
function Emulator:reset_streams(streams)
    self:control("faults", { clear = true })
    self:control("config", { streams = streams })
    self:control("streams", { reset = true })
end

--- An access token for a client (default: the demo client). Raises unless the answer is 201.
function Emulator:token(client_id, client_secret, base)
    local resp = self:http{
        method = "POST", base = base, path = "/oauth2/token",
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
        body = "client_id=" .. urlencode(client_id or self.client_id)
            .. "&client_secret=" .. urlencode(client_secret or self.client_secret),
    }
    if resp.status ~= 201 then
        error("token request failed: " .. resp.status .. " " .. tostring(resp.body), 2)
    end
    return resp.json.access_token
end

--- Every case, fetched through the API (QueryCasesIdsByFilter + GetCaseEntitiesByIDs).
function Emulator:all_cases(token)
    local ids, offset = {}, 0
    repeat
        local resp = self:http{ path = "/message-center/queries/cases/v1", token = token,
                                query = { { "limit", 500 }, { "offset", offset }, { "sort", "case.id.asc" } } }
        assert(resp.status == 200, "query cases: " .. tostring(resp.body))
        for _, id in ipairs(resp.json.resources) do ids[#ids + 1] = id end
        offset = offset + 500
    until offset >= resp.json.meta.pagination.total
    local cases = {}
    for first = 1, #ids, 500 do
        local batch = {}
        for i = first, math.min(first + 499, #ids) do batch[#batch + 1] = ids[i] end
        local resp = self:http{ method = "POST", path = "/message-center/entities/cases/GET/v1", token = token,
                                json = cjson.encode({ ids = batch }) }
        assert(resp.status == 200, "get cases: " .. tostring(resp.body))
        for _, c in ipairs(resp.json.resources) do cases[#cases + 1] = c end
    end
    return cases
end

--- The request log: list of {id, method, uri, args, headers, body, body_length, status,
-- connection, connection_requests, time, duration, region, scheme, port, fault}.
function Emulator:requests()
    return self:control("requests", {}).requests
end

--- The most requests the emulator was serving at one moment, from log entries' start and duration: how
-- specs show that calls ran concurrently without timing the client.
function M.max_overlap(entries)
    local events = {}
    for _, e in ipairs(entries) do
        events[#events + 1] = { e.time, 1 }
        events[#events + 1] = { e.time + e.duration, -1 }
    end
    table.sort(events, function(a, b) if a[1] ~= b[1] then return a[1] < b[1] end return a[2] < b[2] end)
    local now, most = 0, 0
    for _, ev in ipairs(events) do now = now + ev[2]; most = math.max(most, now) end
    return most
end

function Emulator:clear_log()
    return self:control("clear_log", {})
end

--- Stops nginx and removes the instance directory (only for instances this helper started).
function Emulator:stop()
    if self.stopped then return end
    self.stopped = true
    if not self.owned then return end
    run(quote(SCRIPT) .. " stop --dir " .. quote(self.dir) .. " >/dev/null 2>&1")
    run("rm -rf " .. quote(self.dir))
end

return M
