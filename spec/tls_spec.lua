-- The TLS path (issue 5, assurance): verification is on by default, a CA that did not sign the
-- server's certificate fails with a message about certificate verification (and sends nothing the
-- server could read), and ssl_verify = false warns exactly once per client, not once per call.
local emulator = require "spec.helpers.emulator"
local falcon = require "falcon"

describe("TLS", function()
  local e, dir, wrong_ca

  setup(function()
    e = emulator.start()
    dir = emulator.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-tls.XXXXXX\""):gsub("%s+$", "")
    wrong_ca = dir .. "/wrong-ca.pem"
    -- a self-signed CA of our own: valid, but it never signed the emulator's certificate
    local out, code = emulator.run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
      .. " -keyout " .. emulator.quote(dir .. "/wrong-ca.key") .. " -out " .. emulator.quote(wrong_ca)
      .. " -days 1 -subj /CN=falconlua-wrong-ca 2>&1")
    assert(code == 0, "openssl failed: " .. out)
  end)

  teardown(function()
    if dir and dir:find("/falconlua%-tls%.[^/]*$") then emulator.run("rm -rf " .. emulator.quote(dir)) end
    if e then e:stop() end
  end)

  before_each(function() e:control("reset", {}) end)

  local function opts(extra)
    local o = { base_url = e.tls_url, client_id = e.client_id, client_secret = e.client_secret, timeout = 10,
                max_retries = 0 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  local function assert_verification_failure(response)
    assert.equal(500, response.status_code)
    assert.equal("tls", response.transport_error.kind)
    -- CURLE_PEER_FAILED_VERIFICATION: the certificate chain did not verify (not a handshake or I/O error)
    assert.equal(60, response.transport_error.curl_code)
    local message = response.body.errors[1].message
    assert.matches("tls error: certificate verification failed: SSL certificate problem: ", message, 1, true)
    assert.matches("(POST /oauth2/token); if the server's CA is private, give ca_bundle = <CA file>", message, 1, true)
    assert.equal(0, #e:requests(), "a request reached the server through an unverified connection")
  end

  it("fails with a wrong CA bundle (ca_bundle) as a certificate-verification error", function()
    local mc = falcon.MessageCenter(opts { ca_bundle = wrong_ca })
    local ok, response = mc:login()
    assert.is_false(ok)
    assert_verification_failure(response)
    assert_verification_failure(mc:query_cases { limit = 1 })
  end)

  it("fails with a wrong CA given as ssl_verify = <path>, and raises APIError in Result mode", function()
    local mc = falcon.MessageCenter(opts { ssl_verify = wrong_ca, pythonic = true })
    local ok, err = pcall(mc.query_cases, mc, { limit = 1 })
    assert.is_false(ok)
    assert.is_true(falcon.APIError.is(err))
    assert.equal("transport", err.kind)
    assert.matches("SSL certificate problem", tostring(err), 1, true)
    assert.equal(0, #e:requests())
  end)

  it("verifies by default (no CA given: the system store does not know the emulator's CA)", function()
    assert_verification_failure(falcon.MessageCenter(opts()):query_cases { limit = 1 })
  end)

  it("works with the right CA", function()
    assert.equal(200, falcon.MessageCenter(opts { ca_bundle = e.ca }):query_cases { limit = 1 }.status_code)
  end)

  it("ssl_verify = false works and warns exactly once per client, not per call", function()
    -- stderr belongs to the process: count the warnings in a child
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(([[
      local falcon = require "falcon"
      local o = { base_url = %q, client_id = %q, client_secret = %q, ssl_verify = false, timeout = 10 }
      local mc = falcon.MessageCenter(o)
      for _ = 1, 3 do assert(mc:query_cases { limit = 1 }.status_code == 200) end
      assert(mc:login() and mc:logout())
      -- a service sharing the client is the same client: no second warning
      assert(falcon.APIHarnessV2 { auth_object = mc }:command("QueryCasesIdsByFilter", { limit = 1 }).status_code == 200)
      io.stderr:write("-- second client --\n")
      assert(falcon.MessageCenter(o):query_cases { limit = 1 }.status_code == 200)
    ]]):format(e.tls_url, e.client_id, e.client_secret))
    f:close()
    local lua = require("spec.helpers.spawn").lua_command()
    local out, code = emulator.run(lua .. " " .. emulator.quote(script) .. " 2>&1 >/dev/null")
    os.remove(script)
    assert.equal(0, code, "the child failed:\n" .. out)
    local first, second = out:match("^(.*)%-%- second client %-%-\n(.*)$")
    assert(first, "unexpected output:\n" .. out)
    local warning = "falcon: warning: TLS certificate verification is off (ssl_verify = false)\n"
    assert.equal(warning, first)
    assert.equal(warning, second)
  end)
end)
