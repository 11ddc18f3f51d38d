-- Emulator configuration: built-in defaults, overridden by the --config JSON file at start and by
-- POST /_emulator/config at run time. `reset` goes back to the start-time configuration.
local json = require "emulator.json"

local M = {}

local ALL_SCOPES = {
    "message-center:read", "message-center:write",
    "spotlight-vulnerabilities:read", "intel:read", "hosts:read", "host-group:read", "samples:read",
    "identity-protection-graphql:write", "streaming:read",
}

M.REGIONS = { "us-1", "us-2", "eu-1", "us-gov-1", "us-gov-2" }

-- Demo API clients. Ids look like Falcon client ids (32 hex), secrets are 40 characters.
local function default_clients()
    return {
        { client_id = "dec0de00000000000000000000000001", client_secret = "DemoSecretForTheFalconluaEmulator0000001",
          scopes = ALL_SCOPES, region = "us-1", cid = "c1d00000000000000000000000000001", name = "demo" },
        { client_id = "dec0de00000000000000000000000002", client_secret = "ReadOnlySecretForTheFalconluaEmulator002",
          scopes = { "message-center:read", "spotlight-vulnerabilities:read", "intel:read", "hosts:read",
                     "host-group:read", "samples:read" },
          region = "us-1", cid = "c1d00000000000000000000000000001", name = "read-only" },
        { client_id = "dec0de00000000000000000000000003", client_secret = "UsTwoSecretForTheFalconluaEmulator000003",
          scopes = ALL_SCOPES, region = "us-2", cid = "c1d00000000000000000000000000002", name = "us-2 home" },
        { client_id = "dec0de00000000000000000000000004", client_secret = "ParentSecretForTheFalconluaEmulator00004",
          scopes = ALL_SCOPES, region = "us-1", cid = "c1d00000000000000000000000000010", name = "mssp parent",
          member_cids = { "c1d00000000000000000000000000011", "c1d00000000000000000000000000012" } },
    }
end

local function defaults()
    return {
        clients = default_clients(),
        token_lifetime = 1799,
        -- Fixed window per API client (per client_id; requests without a known client share "anonymous").
        rate_limit = { limit = 6000, window = 60 },
        -- A token is only accepted by the region its client lives in (as in the cloud).
        strict_regions = true,
        -- Whether a new activity moves its case's last_modified_time. The API's documentation does not
        -- say; adding an attachment or changing a field does (both change the case record itself).
        activity_moves_case = true,
        log_limit = 5000,
        log_body_cap = 65536,
        attachment_max_bytes = 15 * 1024 * 1024,
        -- Event Streams (streams.lua): partitions, seeded events per partition, emission rate (events/s,
        -- 0: all at once), refresh interval and session lifetime (s), seconds between keep-alive lines.
        streams = { partitions = 2, events = 1000, rate = 0, refresh_interval = 1800, session_lifetime = 86400,
                    keepalive = 1 },
        seed = { seed = 1, cases = 50, max_activities = 3, vulnerabilities = 250, indicators = 300,
                 devices = 300, entities = 120 },
    }
end

M.ALL_SCOPES = ALL_SCOPES

local function copy(value)
    if type(value) ~= "table" then
        return value
    end
    local out = {}
    for k, v in pairs(value) do
        out[k] = copy(v)
    end
    return out
end

local function check_client(c)
    if type(c) ~= "table" or type(c.client_id) ~= "string" or type(c.client_secret) ~= "string" then
        return nil, "each client needs string client_id and client_secret"
    end
    c.scopes = c.scopes or ALL_SCOPES
    c.region = c.region or "us-1"
    c.cid = c.cid or "c1d00000000000000000000000000001"
    c.member_cids = c.member_cids or {}
    return c
end

-- Merges `changes` into `conf`. Clients given are added, or replace a client with the same id.
-- Returns nil and a message for values of the wrong shape.
function M.merge(conf, changes)
    if type(changes) ~= "table" then
        return nil, "config must be a JSON object"
    end
    for key, value in pairs(changes) do
        if key == "clients" then
            if type(value) ~= "table" then
                return nil, "clients must be a list"
            end
            for _, c in ipairs(value) do
                local client, err = check_client(copy(c))
                if not client then return nil, err end
                local replaced = false
                for i, existing in ipairs(conf.clients) do
                    if existing.client_id == client.client_id then
                        conf.clients[i], replaced = client, true
                    end
                end
                if not replaced then
                    conf.clients[#conf.clients + 1] = client
                end
            end
        elseif key == "rate_limit" or key == "seed" or key == "streams" then
            if type(value) ~= "table" then
                return nil, key .. " must be an object"
            end
            for k, v in pairs(value) do
                conf[key][k] = v
            end
        elseif key == "token_lifetime" or key == "log_limit" or key == "log_body_cap"
            or key == "attachment_max_bytes" then
            if type(value) ~= "number" or value < 0 then
                return nil, key .. " must be a non-negative number"
            end
            conf[key] = value
        elseif key == "strict_regions" or key == "activity_moves_case" then
            conf[key] = value and true or false
        else
            return nil, "unknown config key '" .. tostring(key) .. "'"
        end
    end
    return conf
end

-- The start-time configuration: defaults plus the file written by the control script (if any).
function M.load(dir)
    local conf = defaults()
    local file = io.open(dir .. "/config.json", "rb")
    if file then
        local text = file:read("*a")
        file:close()
        local changes, err = json.decode(text)
        if not changes then
            error("emulator: bad " .. dir .. "/config.json: " .. err)
        end
        local ok, merge_err = M.merge(conf, changes)
        if not ok then
            error("emulator: bad " .. dir .. "/config.json: " .. merge_err)
        end
    end
    return conf
end

M.copy = copy

function M.find_client(conf, client_id)
    for _, c in ipairs(conf.clients) do
        if c.client_id == client_id then
            return c
        end
    end
    return nil
end

return M
