-- The C core (falcon.core) and the request engine (falcon.client) against the emulator over real
-- HTTP and TLS: auth, keep-alive, encoding, streaming uploads/downloads, TLS, timeouts, failures.
local core = require "falcon.core"
local Client = require "falcon.client"
local emulator = require "spec.helpers.emulator"
local memory = require "spec.helpers.memory"
local connect_proxy = require "spec.helpers.connect_proxy"

local QUERY_ROUTE = "/message-center/queries/cases/v1"

-- Two of the emulator's built-in demo API clients (emulator/lua/emulator/config.lua).
local CLIENTS = {
  us2 = { client_id = "dec0de00000000000000000000000003", client_secret = "UsTwoSecretForTheFalconluaEmulator000003" },
  mssp = { client_id = "dec0de00000000000000000000000004", client_secret = "ParentSecretForTheFalconluaEmulator00004",
           member_cids = { "c1d00000000000000000000000000011" } },
}

describe("falcon.core", function()
  local emu

  setup(function() emu = emulator.start() end)
  teardown(function() if emu then emu:stop() end end)
  before_each(function() emu:control("reset", {}); emu:clear_log() end)

  local function new_client(extra)
    local opts = { base_url = emu.url, client_id = emu.client_id, client_secret = emu.client_secret }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return Client.new(opts)
  end

  local function logged(pattern)
    local found = {}
    for _, entry in ipairs(emu:requests()) do
      if entry.uri:find(pattern) then found[#found + 1] = entry end
    end
    return found
  end

  describe("auth", function()
    it("fetches a token on first use and reuses it", function()
      local client = new_client()
      for _ = 1, 3 do assert.equals(200, client:request { method = "GET", route = QUERY_ROUTE }.status_code) end
      local tokens = logged("^/oauth2/token")
      assert.equals(1, #tokens)
      assert.equals("POST", tokens[1].method)
      assert.matches("client_id=" .. emu.client_id, tokens[1].body, 1, true)
      assert.equals("application/x-www-form-urlencoded", tokens[1].headers["content-type"])
      local calls = logged("^/message%-center")
      assert.equals(3, #calls)
      for _, call in ipairs(calls) do assert.matches("^Bearer %S+$", call.headers["authorization"]) end
      assert.is_true(client:token_valid())
      assert.is_false(client:token_expired())
    end)

    it("renews a token that is inside the renew window", function()
      emu:control("config", { token_lifetime = 100 }) -- below the 120 s minimum window: always due
      local client = new_client()
      client:request { method = "GET", route = QUERY_ROUTE }
      client:request { method = "GET", route = QUERY_ROUTE }
      assert.equals(2, #logged("^/oauth2/token"))
      emu:control("reset", {})
      emu:clear_log()
      local fresh = new_client()
      fresh:request { method = "GET", route = QUERY_ROUTE }
      fresh:request { method = "GET", route = QUERY_ROUTE }
      assert.equals(1, #logged("^/oauth2/token"))
    end)

    it("renews once and retries once after a 401", function()
      local client = new_client()
      assert.is_true(client:login())
      emu:control("faults", { route = QUERY_ROUTE, status = 401, count = 1 })
      local response = client:request { method = "GET", route = QUERY_ROUTE }
      assert.equals(200, response.status_code)
      assert.equals(2, #logged("^/oauth2/token"))
      assert.equals(2, #logged("^/message%-center"))
    end)

    it("does not loop when the API keeps answering 401", function()
      local client = new_client()
      emu:control("faults", { route = QUERY_ROUTE, status = 401, count = 10 })
      local response = client:request { method = "GET", route = QUERY_ROUTE }
      assert.equals(401, response.status_code)
      assert.equals(2, #logged("^/message%-center"))
    end)

    it("fails fast with the API's message on bad credentials", function()
      local client = Client.new { base_url = emu.url, client_id = emu.client_id, client_secret = "wrong" }
      local response = client:request { method = "GET", route = QUERY_ROUTE }
      assert.is_true(response.status_code == 401 or response.status_code == 403)
      assert.is_string(response.body.errors[1].message)
      assert.equals(0, #logged("^/message%-center"))
      assert.equals(1, #logged("^/oauth2/token"))
    end)

    it("revokes with Basic auth and the token in the form; the old token is refused", function()
      local client = new_client()
      client:request { method = "GET", route = QUERY_ROUTE }
      local bearer = logged("^/message%-center")[1].headers["authorization"]
      local ok = client:logout()
      assert.is_true(ok)
      local revoke = logged("^/oauth2/revoke")[1]
      assert.matches("^Basic ", revoke.headers["authorization"])
      assert.matches("token=", revoke.body, 1, true)
      assert.is_false(client:token_valid())
      -- The revoked token no longer works anywhere.
      local other = Client.new { base_url = emu.url, access_token = bearer:match("^Bearer (.+)$") }
      assert.equals(401, other:request { method = "GET", route = QUERY_ROUTE }.status_code)
    end)

    it("sends member_cid in the token form", function()
      local client = Client.new { base_url = emu.url, client_id = CLIENTS.mssp.client_id,
                                  client_secret = CLIENTS.mssp.client_secret,
                                  member_cid = CLIENTS.mssp.member_cids[1] }
      assert.is_true(client:login())
      assert.matches("member_cid=" .. CLIENTS.mssp.member_cids[1], logged("^/oauth2/token")[1].body, 1, true)
    end)

    it("uses a handed-in access token as is", function()
      local first = new_client()
      first:request { method = "GET", route = QUERY_ROUTE }
      local token = logged("^/message%-center")[1].headers["authorization"]:match("^Bearer (.+)$")
      emu:clear_log()
      local client = Client.new { base_url = emu.url, access_token = token }
      assert.equals(200, client:request { method = "GET", route = QUERY_ROUTE }.status_code)
      assert.equals(0, #logged("^/oauth2/token"))
    end)

    it("reads FALCON_CLIENT_ID and FALCON_CLIENT_SECRET when no credentials are given", function()
      local before, peak, result = memory.run([[
        local Client = require "falcon.client"
        local c = Client.new { base_url = os.getenv("EMU") }
        return c:login()
      ]], { FALCON_CLIENT_ID = emu.client_id, FALCON_CLIENT_SECRET = emu.client_secret, EMU = emu.url,
            LUA_PATH = package.path, LUA_CPATH = package.cpath })
      assert.truthy(before and peak)
      assert.equals("true", result)
    end)
  end)

  describe("regions", function()
    it("moves to the region the token endpoint names when the base was a cloud name", function()
      local home = CLIENTS.us2
      local client = Client.new { base_url = "us1", client_id = home.client_id, client_secret = home.client_secret,
                                  regions = { us1 = emu.regions["us-1"], ["US-2"] = emu.regions["us-2"] } }
      assert.equals(emu.regions["us-1"], client:base_url())
      assert.is_true(client:login())
      assert.equals(emu.regions["us-2"], client:base_url())
      assert.equals(200, client:request { method = "GET", route = QUERY_ROUTE }.status_code)
    end)

    it("moves only to a known cloud, on a value that is exactly a cloud name", function()
      local overrides = { us1 = emu.regions["us-1"], us2 = emu.regions["us-2"], eu1 = emu.regions["eu-1"] }
      local function login_told(region)
        emu:control("faults", { route = "/oauth2/token", headers = { ["X-Cs-Region"] = region } })
        local client = Client.new { base_url = "us1", client_id = emu.client_id, client_secret = emu.client_secret,
                                    regions = overrides }
        assert.is_true(client:login())
        return client:base_url(), client.region
      end
      for _, hostile in ipairs { "us 2", "u\ts-2", "us-2\27[0m", "us-2\7", "../us-2", "https://evil.example",
                                 "us-2.evil.example", "mars-1", "us-gov-1", "US_GOV_2", "eu-1/..", "" } do
        local url, region = login_told(hostile)
        assert.equals(emu.regions["us-1"], url, hostile)
        assert.equals("us-1", region)
      end
      assert.same({ emu.regions["eu-1"], "eu-1" }, { login_told("EU-1") })
      assert.same({ emu.regions["us-2"], "us-2" }, { login_told("us2") })
    end)

    it("never leaves a custom URL", function()
      local home = CLIENTS.us2
      local client = Client.new { base_url = emu.regions["us-1"] .. "/", client_id = home.client_id,
                                  client_secret = home.client_secret }
      client:login()
      assert.equals(emu.regions["us-1"], client:base_url())
    end)

    it("accepts every spelling of the cloud names and refuses unknown ones", function()
      for _, name in ipairs { "us1", "us-1", "US1", "US-1", "us2", "eu1", "EU-1", "usgov1", "us-gov-1", "usgov2" } do
        assert.matches("^https://api%.", Client.new { base_url = name, access_token = "t" }:base_url())
      end
      assert.has_error(function() Client.new { base_url = "mars1" } end,
        "falcon: bad option 'base_url' (unknown region 'mars1': us1, us2, eu1, usgov1, usgov2 or an http(s) URL expected)")
    end)
  end)

  describe("HTTP", function()
    it("reuses one connection for many calls, the token call included", function()
      local client = new_client()
      for _ = 1, 10 do client:request { method = "GET", route = QUERY_ROUTE } end
      local connections = {}
      for _, entry in ipairs(emu:requests()) do connections[entry.connection] = true end
      local count = 0
      for _ in pairs(connections) do count = count + 1 end
      assert.equals(1, count)
      assert.equals(11, #emu:requests())
    end)

    it("percent-encodes spaces, quotes, '+', apostrophes, unicode, and repeats list keys", function()
      local client = new_client()
      local filter = "case.title:*'*a b+c \"d\" é€*'"
      client:request { method = "GET", route = QUERY_ROUTE,
                       query = { { "filter", filter }, { "limit", 10 }, { "sort", "case.id.asc" }, { "sort", "x&y=z" } } }
      local entry = logged("^/message%-center")[1]
      assert.equals("filter=case.title%3A%2A%27%2Aa+b%2Bc+%22d%22+%C3%A9%E2%82%AC%2A%27&limit=10&sort=case.id.asc&sort=x%26y%3Dz",
        entry.args)
      assert.equals("filter=a+b&n=1&t=true", core.encode_query { { "filter", "a b" }, { "n", 1 }, { "t", true } })
    end)

    it("returns headers whose lookup ignores case", function()
      local response = new_client():request { method = "GET", route = QUERY_ROUTE }
      assert.equals(response.headers["Content-Type"], response.headers["content-type"])
      assert.equals(response.headers["X-Cs-Region"], response.headers["x-cs-region"])
      assert.is_string(response.headers["X-CS-TRACEID"])
    end)

    it("sends the default user agent with the user's string appended", function()
      new_client { user_agent = "triage-bot/2.1" }:request { method = "GET", route = QUERY_ROUTE }
      assert.equals("falconlua/" .. core.version .. " triage-bot/2.1", logged("^/message%-center")[1].headers["user-agent"])
    end)

    it("asks for compressed bodies once per request and decodes them", function()
      local response = new_client():request { method = "GET", route = QUERY_ROUTE, query = { { "limit", 50 } } }
      local sent = logged("^/message%-center")[1].headers
      -- one line each (a repeated header would come back as a list)
      assert.is_string(sent["user-agent"])
      assert.is_string(sent["accept-encoding"])
      assert.truthy(sent["accept-encoding"]:find("gzip", 1, true))
      assert.equals("gzip", response.headers["Content-Encoding"])
      assert.equals(50, #response.body.resources)
    end)

    -- The emulator's forward proxy marks what it forwards; the API sees the mark or not.
    local function through_proxy()
      local marks = {}
      for _, entry in ipairs(emu:requests()) do marks[entry.uri] = entry.headers["x-emulator-proxy"] or "direct" end
      return marks
    end

    it("takes a configured proxy for login, API calls, parallel calls and revoke alike", function()
      local client = new_client { proxy = emu.proxy_url }
      assert.is_true(client:login())
      assert.equals(200, client:request { method = "GET", route = QUERY_ROUTE }.status_code)
      local results = require("falcon").parallel {
        function() return client:request { method = "POST", route = "/message-center/entities/cases/GET/v1",
                                           body = '{"ids":[]}', content_type = "application/json" }.status_code end,
        function() return client:request { method = "GET", route = "/message-center/queries/case-activities/v1",
                                           query = { { "case_id", "x" } } }.status_code end,
      }
      assert.is_number(results[1])
      assert.is_number(results[2])
      assert.is_true((client:logout()))
      assert.same({ ["/oauth2/token"] = "forwarded", [QUERY_ROUTE] = "forwarded", ["/oauth2/revoke"] = "forwarded",
                    ["/message-center/entities/cases/GET/v1"] = "forwarded",
                    ["/message-center/queries/case-activities/v1"] = "forwarded" }, through_proxy())
      -- and without one, nothing goes through it
      emu:clear_log()
      local direct = new_client()
      assert.is_true(direct:login())
      direct:request { method = "GET", route = QUERY_ROUTE }
      assert.same({ ["/oauth2/token"] = "direct", [QUERY_ROUTE] = "direct" }, through_proxy())
    end)

    it("tunnels login, API calls and revoke through an HTTPS proxy, the user agent on each CONNECT", function()
      local proxy = connect_proxy.start()
      local ok, err = pcall(function()
        local client = new_client { base_url = emu.tls_url, ca_bundle = emu.ca, proxy = proxy.url }
        assert.is_true(client:login())
        assert.equals(200, client:request { method = "GET", route = QUERY_ROUTE }.status_code)
        assert.is_true((client:logout()))
        local heads = proxy:heads()
        assert.is_true(#heads >= 1)
        local tls_port = emu.tls_url:match(":(%d+)$")
        for _, head in ipairs(heads) do
          assert.truthy(head:find("^CONNECT 127%.0%.0%.1:" .. tls_port .. " HTTP/1%.1\r\n"), head)
          local agents = select(2, head:gsub("\r\n[Uu]ser%-[Aa]gent: falconlua/", ""))
          assert.equals(1, agents, head)
          assert.is_nil(head:find("[Aa]uthorization"), "no credentials on the CONNECT")
        end
        -- The API saw all three over TLS, each with one user agent.
        local uris = {}
        for _, entry in ipairs(emu:requests()) do
          uris[#uris + 1] = entry.uri
          assert.equals("https", entry.scheme)
          assert.equals("falconlua/" .. core.version, entry.headers["user-agent"])
        end
        assert.same({ "/oauth2/token", QUERY_ROUTE, "/oauth2/revoke" }, uris)
      end)
      proxy:stop()
      assert(ok, err)
    end)

    it("lets the caller's own User-Agent and Accept-Encoding replace the SDK's", function()
      local response = new_client():request { method = "GET", route = QUERY_ROUTE, query = { { "limit", 50 } },
                                              headers = { ["User-Agent"] = "own/1.0", ["accept-encoding"] = "identity" } }
      local sent = logged("^/message%-center")[1].headers
      assert.equals("own/1.0", sent["user-agent"])
      assert.equals("identity", sent["accept-encoding"])
      assert.is_nil(response.headers["Content-Encoding"])
      assert.equals(50, #response.body.resources)
    end)
  end)

  describe("uploads and downloads", function()
    local big = os.tmpname()
    local SIZE = 15 * 1024 * 1024

    setup(function()
      local f = assert(io.open(big, "wb"))
      local chunk = {}
      for i = 1, 4096 do chunk[i] = string.char((i * 7 + 13) % 256) end
      chunk = table.concat(chunk)
      for _ = 1, SIZE / 4096 do f:write(chunk) end
      f:close()
    end)
    teardown(function() os.remove(big) end)

    local function case_id(client)
      local created = client:request { method = "POST", route = "/message-center/entities/case/v2",
        content_type = "application/json",
        body = '{"title":"upload","type":"fc:incident-response","body":"x","detections":[],"incidents":[]}' }
      assert.equals(200, created.status_code)
      return created.body.resources[1].id or created.body.resources[1]
    end

    it("streams a 15 MB upload from disk and a 15 MB download to disk, byte-exact, in little memory", function()
      local script = [[
        local Client = require "falcon.client"
        local c = Client.new { base_url = os.getenv("EMU"), client_id = os.getenv("ID"), client_secret = os.getenv("SECRET") }
        assert(c:request { method = "GET", route = "/message-center/queries/cases/v1" }.status_code == 200)
        baseline()
        local up = c:request { method = "POST", route = "/message-center/entities/case-attachment/v1",
          form = { { name = "case_id", value = os.getenv("CASE") }, { name = "user_uuid", value = "u-1" },
                   { name = "file", path = os.getenv("FILE"), filename = "evidence.txt", content_type = "text/plain" } } }
        assert(up.status_code == 200, "upload " .. tostring(up.status_code))
        local id = up.body.resources[1].id
        local down = c:request { method = "GET", route = "/message-center/entities/case-attachment/v1",
          query = { { "id", id } }, save_to = os.getenv("OUT"), binary = true }
        assert(down.status_code == 200 and down.body == nil, "download")
        return down.saved_bytes
      ]]
      local client = new_client()
      local out = os.tmpname()
      local before, peak, saved = memory.run(script, { EMU = emu.url, ID = emu.client_id, SECRET = emu.client_secret,
        CASE = case_id(client), FILE = big, OUT = out, LUA_PATH = package.path, LUA_CPATH = package.cpath })
      assert.equals(SIZE, math.floor(tonumber(saved)))
      local a, b = io.open(big, "rb"), io.open(out, "rb")
      assert.equals(a:read("*a"), b:read("*a"))
      a:close(); b:close(); os.remove(out)
      -- The process grew by far less than the file it sent and received.
      assert.is_true((peak - before) * 1024 < SIZE / 4, ("grew %d KiB"):format(peak - before))
    end)

    it("uploads from a Lua string and downloads to memory", function()
      local client = new_client()
      local bytes = "\0\1\2binary\255" .. string.rep("z", 1000)
      local up = client:request { method = "POST", route = "/message-center/entities/case-attachment/v1",
        form = { { name = "case_id", value = case_id(client) }, { name = "user_uuid", value = "u-1" },
                 { name = "file", data = bytes, filename = "raw.png", content_type = "image/png" } } }
      assert.equals(200, up.status_code)
      local down = client:request { method = "GET", route = "/message-center/entities/case-attachment/v1",
        query = { { "id", up.body.resources[1].id } }, binary = true }
      assert.equals(200, down.status_code)
      assert.equals(bytes, down.body)
      assert.equals("application/octet-stream", down.headers["content-type"])
    end)

    it("never writes an error body into the target file", function()
      local out = os.tmpname()
      os.remove(out)
      local down = new_client():request { method = "GET", route = "/message-center/entities/case-attachment/v1",
        query = { { "id", "no-such-attachment" } }, save_to = out, binary = true }
      assert.equals(404, down.status_code)
      assert.is_table(down.body)
      assert.is_nil(io.open(out))
      assert.is_nil(io.open(out .. ".part"))
    end)

    it("reports upload and download progress", function()
      local client = new_client()
      local calls, last_up = 0, 0
      local up = client:request { method = "POST", route = "/message-center/entities/case-attachment/v1",
        form = { { name = "case_id", value = case_id(client) }, { name = "user_uuid", value = "u-1" },
                 { name = "file", path = big, filename = "big.txt" } },
        progress = function(_, _, _, ul_now) calls = calls + 1; last_up = math.max(last_up, ul_now) end }
      assert.equals(200, up.status_code)
      assert.is_true(calls > 1)
      assert.is_true(last_up >= SIZE)
      local aborted = client:request { method = "GET", route = "/message-center/entities/case-attachment/v1",
        query = { { "id", up.body.resources[1].id } }, binary = true, progress = function() return false end }
      assert.equals(500, aborted.status_code)
      assert.equals("aborted", aborted.transport_error.kind)
    end)

    it("refuses a missing file or a directory before sending anything", function()
      local client = new_client()
      client:login()
      emu:clear_log()
      for _, path in ipairs { "/nonexistent/file.txt", "/tmp" } do
        assert.has_error(function()
          client:request { method = "POST", route = "/message-center/entities/case-attachment/v1",
            form = { { name = "file", path = path, filename = "a.txt" } } }
        end)
      end
      assert.equals(0, #emu:requests())
    end)
  end)

  describe("TLS", function()
    it("verifies the server: fails without the CA bundle, works with it", function()
      local opts = { base_url = emu.tls_url, client_id = emu.client_id, client_secret = emu.client_secret,
                     max_retries = 0 }
      local response = Client.new(opts):request { method = "GET", route = QUERY_ROUTE }
      assert.equals(500, response.status_code)
      assert.equals("tls", response.transport_error.kind)
      assert.matches("certificate", response.body.errors[1].message)
      opts.ca_bundle = emu.ca
      assert.equals(200, Client.new(opts):request { method = "GET", route = QUERY_ROUTE }.status_code)
    end)
  end)

  describe("failures", function()
    it("times out instead of hanging", function()
      emu:control("faults", { route = QUERY_ROUTE, delay = 3, count = 1 })
      local client = new_client { timeout = 0.5, max_retries = 0 }
      client:login()
      local started = os.time()
      local response = client:request { method = "GET", route = QUERY_ROUTE }
      assert.equals("timeout", response.transport_error.kind)
      assert.is_true(os.time() - started <= 2)
    end)

    it("reports a refused connection", function()
      local client = Client.new { base_url = "http://127.0.0.1:1", client_id = "id", client_secret = "secret",
                                  max_retries = 0 }
      local response = client:request { method = "GET", route = QUERY_ROUTE }
      assert.equals(500, response.status_code)
      assert.equals("connect", response.transport_error.kind)
      assert.is_false(response.transport_error.reached_server)
      assert.matches("connect error", response.body.errors[1].message)
    end)

    it("gives one transport error object, whether the core or the engine found the failure", function()
      local refused = Client.new { base_url = "http://127.0.0.1:1", access_token = "t", max_retries = 0 }
        :request { method = "GET", route = QUERY_ROUTE }
      local saved = os.getenv("FALCON_CLIENT_ID") -- no credentials at all: the engine's own failure
      assert.is_nil(saved, "the spec needs FALCON_CLIENT_ID unset")
      local missing = Client.new { base_url = emu.url }:request { method = "GET", route = QUERY_ROUTE }
      for _, response in ipairs { refused, missing } do
        assert.equals(500, response.status_code)
        assert.same({ meta = {}, resources = {}, errors = { { code = 500, message = response.transport_error.message } } },
          response.body)
        assert.equals(getmetatable(refused.transport_error), getmetatable(response.transport_error))
        assert.equals(response.transport_error.message, tostring(response.transport_error))
      end
      assert.equals("auth", missing.transport_error.kind)
      assert.is_false(missing.transport_error.reached_server)
    end)

    it("reports an unknown host", function()
      local response = Client.new { base_url = "http://no-such-host.invalid", access_token = "t", max_retries = 0 }
        :request { method = "GET", route = QUERY_ROUTE }
      assert.equals("dns", response.transport_error.kind)
    end)

    it("raises clear errors for bad request values, before sending", function()
      local c = core.client { base_url = emu.url }
      assert.has_error(function() c:perform("api", { method = "get", route = "/" }) end,
        "falcon: request: bad field 'method' (upper-case HTTP method expected)")
      assert.has_error(function() c:perform("api", { method = "GET", route = "/a b" }) end)
      assert.has_error(function() c:perform("api", { method = "GET", route = "/", headers = { X = "a\r\nInjected: 1" } }) end,
        "falcon: request: bad header 'X' (CR, LF and NUL are not allowed)")
      assert.has_error(function() c:perform("api", { method = "GET", route = "/", query = { { "a", {} } } }) end)
      assert.has_error(function() core.client { base_url = "ftp://x" } end)
      assert.has_error(function() core.client { base_url = "http://x", client_id = "" } end,
        "falcon: core.client: bad option 'client_id' (non-empty string expected)")
      assert.has_error(function() core.client { base_url = "http://x", colour = 1 } end,
        "falcon: core.client: unknown option 'colour'")
      assert.equals(0, #emu:requests())
    end)
  end)

  describe("secrets", function()
    it("never appear in tostring, errors, responses or the client's tables", function()
      local secret = emu.client_secret
      local client = new_client { proxy = "" }
      client.core:close()
      client = new_client()
      local ok_response = client:request { method = "GET", route = QUERY_ROUTE }
      local token = logged("^/message%-center")[1].headers["authorization"]:match("^Bearer (.+)$")
      local texts = { tostring(client), tostring(client.core) }
      local failing = Client.new { base_url = "http://127.0.0.1:1", client_id = emu.client_id, client_secret = secret,
                                   max_retries = 0 }
      local failed = failing:request { method = "GET", route = QUERY_ROUTE }
      texts[#texts + 1] = failed.body.errors[1].message
      texts[#texts + 1] = tostring(failed.transport_error)
      local bad = Client.new { base_url = emu.url, client_id = emu.client_id, client_secret = secret .. "x" }
      local denied = bad:request { method = "GET", route = QUERY_ROUTE }
      texts[#texts + 1] = require("falcon.json").encode(denied.body)
      local function walk(value, seen)
        seen = seen or {}
        if type(value) == "string" then texts[#texts + 1] = value
        elseif type(value) == "table" and not seen[value] then
          seen[value] = true
          for k, v in pairs(value) do walk(k, seen); walk(v, seen) end
        end
      end
      walk(client); walk(ok_response)
      for _, text in ipairs(texts) do
        assert.is_nil(text:find(secret, 1, true), text)
        assert.is_nil(text:find(token, 1, true), text)
      end
      client:close()
      assert.equals("falcon.core.client (closed)", tostring(client.core))
      client:close() -- closing twice is harmless
      assert.has_error(function() client.core:perform("api", { method = "GET", route = "/" }) end,
        "falcon: core.client: the client is closed")
    end)
  end)
end)

describe("falcon.core as a shared object", function()
  -- The file `require "falcon.core"` loads: the first cpath entry that has it.
  local function module_path()
    for template in package.cpath:gmatch("[^;]+") do
      local path = template:gsub("%?", "falcon/core")
      local f = io.open(path, "rb")
      if f then f:close(); return path end
    end
  end

  it("exports luaopen_falcon_core and nothing else, so its names never meet a host's", function()
    local path = assert(module_path(), "falcon/core.so not found on package.cpath")
    local out = emulator.run("nm -D --defined-only " .. emulator.quote(path))
    local exported = {}
    for name in out:gmatch("%x+ [TDBRV] ([%w_]+)") do exported[#exported + 1] = name end
    assert.same({ "luaopen_falcon_core" }, exported)
  end)
end)

describe("falcon.core's sources", function()
  -- x.c and x.h are one module; a module depends on every header it (or its header) includes.
  local function include_graph()
    local graph = {}
    local p = assert(io.popen("ls csrc/*.c csrc/*.h"))
    for path in p:lines() do
      local module = path:match("([%w_]+)%.[ch]$")
      graph[module] = graph[module] or {}
      for line in io.lines(path) do
        local included = line:match('^%s*#%s*include%s+"([%w_]+)%.h"')
        if included and included ~= module then graph[module][included] = true end
      end
    end
    p:close()
    return graph
  end

  it("include no module that includes them back (the C modules form no cycle)", function()
    local graph, state, cycle = include_graph(), {}, nil
    local function visit(module, path)
      if state[module] == "done" or cycle then return end
      if state[module] == "open" then cycle = table.concat(path, " -> ") .. " -> " .. module; return end
      state[module] = "open"
      path[#path + 1] = module
      local next_modules = {}
      for included in pairs(graph[module] or {}) do next_modules[#next_modules + 1] = included end
      table.sort(next_modules)
      for _, included in ipairs(next_modules) do visit(included, path) end
      path[#path] = nil
      state[module] = "done"
    end
    local modules = {}
    for module in pairs(graph) do modules[#modules + 1] = module end
    table.sort(modules)
    for _, module in ipairs(modules) do visit(module, {}) end
    assert.is_nil(cycle, cycle)
  end)
end)
