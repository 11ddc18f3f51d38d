-- OAuth2 client credentials: POST /oauth2/token, POST /oauth2/revoke, and bearer-token checks for
-- API calls (expiry, revocation, home region, scopes).
local config = require "emulator.config"
local envelope = require "emulator.envelope"
local ids = require "emulator.ids"
local json = require "emulator.json"
local store = require "emulator.store"

local M = {}

local DENIED = "access denied, authorization failed"
local INVALID_TOKEN = "access denied, invalid bearer token"

local function form(req)
    if not req.body_text then
        return {}
    end
    return ngx.decode_args(req.body_text, 100)
end

local function form_value(args, name)
    local v = args[name]
    if type(v) == "table" then v = v[1] end
    if v == true then v = "" end
    return v
end

-- The client a request names (for rate limiting before it is authenticated).
function M.client_hint(req)
    if req.route == "/oauth2/token" then
        return form_value(form(req), "client_id")
    end
    if req.route == "/oauth2/revoke" then
        local user = M.basic_credentials(req)
        return user
    end
    local record = M.lookup_bearer(req)
    return record and record.client_id
end

function M.basic_credentials(req)
    local auth = req.headers["authorization"]
    if type(auth) ~= "string" then return nil end
    local encoded = auth:match("^%s*[Bb]asic%s+(%S+)")
    if not encoded then return nil end
    local decoded = ngx.decode_base64(encoded)
    if not decoded then return nil end
    return decoded:match("^([^:]*):(.*)$")
end

function M.lookup_bearer(req)
    local auth = req.headers["authorization"]
    if type(auth) ~= "string" then return nil end
    local token = auth:match("^%s*[Bb]earer%s+(%S+)%s*$")
    return token and store.tokens[token], token
end

function M.token(req)
    local args = form(req)
    local client_id, secret = form_value(args, "client_id"), form_value(args, "client_secret")
    local member_cid = form_value(args, "member_cid")
    if not client_id or client_id == "" or not secret or secret == "" then
        return envelope.error(400, "client_id and client_secret are required")
    end
    local client = config.find_client(store.conf, client_id)
    if not client or client.client_secret ~= secret then
        return envelope.error(403, DENIED)
    end
    local cid = client.cid
    if member_cid and member_cid ~= "" then
        local allowed = false
        for _, member in ipairs(client.member_cids or {}) do
            if member:lower() == member_cid:lower() then allowed = true end
        end
        if not allowed then
            return envelope.error(403, DENIED)
        end
        cid = member_cid:lower()
    end
    local lifetime = client.token_lifetime or store.conf.token_lifetime
    local token = ids.token()
    local scopes = {}
    for _, s in ipairs(client.scopes) do scopes[s] = true end
    store.tokens[token] = {
        client_id = client_id,
        cid = cid,
        member_cid = member_cid,
        scopes = scopes,
        region = client.region,
        expires_at = ngx.now() + lifetime,
    }
    -- The token endpoint of any region reports the client's home region (autodiscovery).
    ngx.ctx.region_header = client.region
    return envelope.send_json(201, {
        access_token = token,
        expires_in = lifetime,
        token_type = "bearer",
    })
end

function M.revoke(req)
    local user, secret = M.basic_credentials(req)
    local client = user and config.find_client(store.conf, user)
    if not client or client.client_secret ~= secret then
        return envelope.error(403, DENIED)
    end
    local token = form_value(form(req), "token")
    if not token or token == "" then
        return envelope.error(400, "token is required")
    end
    local record = store.tokens[token]
    -- As RFC 7009 asks, an unknown token is not an error; another client's token is left alone.
    if record and record.client_id == client.client_id then
        record.revoked = true
    end
    return envelope.send_json(200, { meta = envelope.meta(), errors = json.array() })
end

-- Checks the bearer token and scope of an API call. Returns the token record, or nil after sending
-- the 401/403 answer.
function M.authorize(req, scope)
    local record = M.lookup_bearer(req)
    if not record or record.revoked or ngx.now() >= record.expires_at
        or (store.conf.strict_regions and record.region ~= ngx.ctx.region) then
        envelope.error(401, INVALID_TOKEN)
        return nil
    end
    if scope and not record.scopes[scope] then
        envelope.error(403, DENIED)
        return nil
    end
    return record
end

return M
