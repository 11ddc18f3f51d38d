-- Deterministic seed data: the same seed number and counts always give the same records, ids
-- included, so tests (and the demo) can rely on them. Generated in-process: 10,000 cases take
-- a few tens of milliseconds, far cheaper than posting them.
local store = require "emulator.store"
local timeutil = require "emulator.timeutil"

local M = {}

local floor = math.floor

-- Park–Miller "minimal standard" generator with Schrage-free arithmetic: 16807 * (2^31 - 2)
-- stays below 2^53, so doubles (LuaJIT) compute exactly what integers would.
local function new_rng(seed)
    local state = floor(seed) % 2147483646 + 1
    local rng = {}
    function rng.next()
        state = (state * 16807) % 2147483647
        return state
    end
    function rng.int(lo, hi)
        return lo + rng.next() % (hi - lo + 1)
    end
    function rng.pick(list)
        return list[rng.int(1, #list)]
    end
    function rng.hex(n)
        local parts = {}
        for _ = 1, n, 4 do
            parts[#parts + 1] = string.format("%04x", rng.next() % 65536)
        end
        return table.concat(parts):sub(1, n)
    end
    function rng.uuid()
        local h = rng.hex(32)
        return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-4" .. h:sub(14, 16) .. "-a" .. h:sub(18, 20)
            .. "-" .. h:sub(21, 32)
    end
    return rng
end
M.new_rng = new_rng

local PEOPLE = {
    { "Ada", "Lovelace" }, { "Grace", "Hopper" }, { "Alan", "Turing" }, { "Katherine", "Johnson" },
    { "Seamus", "O'Brien" }, { "Zoë", "Martínez" }, { "Linus", "Pauling" }, { "Barbara", "Liskov" },
}
local CASE_TYPES = { "fc:contact", "fc:detection-support", "fc:falcon-product-support", "fc:partner", "mdr", "rfi" }
local CASE_STATUSES = { "open", "in_progress", "awaiting_customer", "closed" }
local ADJECTIVES = { "Suspicious", "Unexpected", "Blocked", "Repeated", "Critical", "Unusual", "Quarantined" }
local SUBJECTS = { "PowerShell activity", "login failures", "sensor update", "network beacon", "file write",
                   "policy change", "\"mimikatz\" hit", "service install" }
local WORDS = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
                "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango" }
local PLATFORMS = { "Windows", "Mac", "Linux" }

local CASES_START = 1672531200 -- 2023-01-01T00:00:00Z
local TWO_YEARS = 2 * 365 * 86400

local function author(rng)
    local index = rng.int(1, #PEOPLE)
    local p = PEOPLE[index]
    local login = (p[1] .. "." .. p[2]):lower():gsub("[^%w.]", "")
    return {
        display_name = p[1] .. " " .. p[2],
        first_name = p[1],
        last_name = p[2],
        uid = login .. "@example.com",
        email_address = login .. "@example.com",
        uuid = string.format("00000000-0000-4000-8000-%012d", index),
    }
end

local function sentence(rng, n)
    local words = {}
    for i = 1, n do
        words[i] = rng.pick(WORDS)
    end
    return table.concat(words, " ")
end

-- A pool of hosts the cases refer to (aid, hostname, ip), itself seeded.
local function host_pool(rng, n)
    local hosts = {}
    for i = 1, n do
        hosts[i] = {
            aid = rng.hex(32),
            hostname = string.format("host-%03d", i),
            ip = string.format("10.%d.%d.%d", rng.int(0, 255), rng.int(0, 255), rng.int(1, 254)),
        }
    end
    return hosts
end

local function add_cases(rng, count, max_activities, cid)
    local hosts = host_pool(rng, 40)
    for _ = 1, count do
        local created = CASES_START + rng.int(0, TWO_YEARS)
        local case_type = rng.pick(CASE_TYPES)
        local case = {
            id = rng.hex(32),
            key = store.next_case_key(),
            cid = cid,
            type = case_type,
            case_type = case_type,
            status = rng.pick(CASE_STATUSES),
            title = rng.pick(ADJECTIVES) .. " " .. rng.pick(SUBJECTS),
            body = sentence(rng, rng.int(3, 12)),
            assigner = author(rng),
            created_time = timeutil.format(created),
            last_modified_time = timeutil.format(created + rng.int(0, 30 * 86400)),
            aids = {}, hosts = {}, ip_addresses = {}, detections = {}, incidents = {}, attachments = {},
            malware_submission_id = "", malware_submission_url = "", recon_rule_type = "",
            rfi_id = case_type == "rfi" and rng.hex(32) or "",
        }
        for _ = 1, rng.int(0, 3) do
            local h = rng.pick(hosts)
            case.aids[#case.aids + 1] = h.aid
            case.hosts[#case.hosts + 1] = h.hostname
            case.ip_addresses[#case.ip_addresses + 1] = h.ip
        end
        if #case.aids > 0 then
            for n = 1, rng.int(0, 2) do
                local aid = case.aids[1]
                local det = string.format("ldt:%s:%d", aid, rng.int(1000, 99999) + n)
                case.detections[#case.detections + 1] = {
                    id = det, url = "https://falcon.crowdstrike.com/activity/detections/detail/" .. det,
                }
            end
            if rng.int(0, 3) == 0 then
                local inc = "inc:" .. case.aids[1] .. ":" .. rng.hex(32)
                case.incidents[1] = { id = inc, url = "https://falcon.crowdstrike.com/crowdscore/incidents/details/" .. inc }
            end
        end
        store.add_case(case)
        local t = created
        for _ = 1, rng.int(0, max_activities) do
            t = t + rng.int(60, 5 * 86400)
            store.add_activity({
                id = rng.hex(32),
                case_id = case.id,
                cid = cid,
                type = "comment",
                body = sentence(rng, rng.int(2, 8)),
                created_by = author(rng),
                created_time = timeutil.format(t),
                last_modified_time = timeutil.format(t),
                modified_by = "",
            })
        end
    end
end

local VULN_STATUSES = { "open", "closed", "reopen", "expired" }
local SEVERITIES = { "LOW", "MEDIUM", "HIGH", "CRITICAL" }

local function vulnerabilities(rng, count, cid)
    local list = {}
    local seeded_at = floor(ngx.now())
    for i = 1, count do
        local aid = rng.hex(32)
        local created = CASES_START + rng.int(0, TWO_YEARS)
        list[i] = {
            id = aid .. "_" .. rng.hex(32),
            aid = aid,
            cid = cid,
            status = rng.pick(VULN_STATUSES),
            created_timestamp = timeutil.format(created),
            updated_timestamp = timeutil.format(created + rng.int(0, 90 * 86400)),
            -- Seen 0..89 days before the emulator started, so `last_seen_within` filters have something
            -- to keep and something to drop (derived from i: the generator's sequence stays as it was).
            last_seen = seeded_at - ((i * 7) % 90) * 86400,
            cve = {
                id = string.format("CVE-%d-%05d", rng.int(2015, 2024), rng.int(1, 49999)),
                severity = rng.pick(SEVERITIES),
                base_score = rng.int(0, 100) / 10,
            },
        }
    end
    return list
end

local INDICATOR_TYPES = { "domain", "ip_address", "hash_sha256", "url" }
local CONFIDENCES = { "high", "medium", "low", "unverified" }

-- Markers are "<10-digit epoch><8 hex>": unique, and their string order is time order.
local function indicators(rng, count)
    local list = {}
    local t = 1700000000
    for i = 1, count do
        -- Several indicators share a second, so markers differ only by their suffix.
        t = t + rng.int(0, 2)
        local kind = rng.pick(INDICATOR_TYPES)
        local value
        if kind == "domain" then
            value = rng.pick(WORDS) .. rng.int(1, 999) .. ".example"
        elseif kind == "ip_address" then
            value = string.format("198.51.%d.%d", rng.int(0, 255), rng.int(1, 254))
        elseif kind == "url" then
            value = "http://" .. rng.pick(WORDS) .. ".example/" .. rng.hex(8)
        else
            value = rng.hex(64)
        end
        list[i] = {
            id = kind .. "_" .. value,
            indicator = value,
            type = kind,
            malicious_confidence = rng.pick(CONFIDENCES),
            published_date = t,
            last_updated = t + rng.int(0, 86400),
            _marker = string.format("%010d%08x", t, i),
            deleted = false,
        }
    end
    return list
end

local function devices(rng, count, cid)
    local list = {}
    for i = 1, count do
        local platform = rng.pick(PLATFORMS)
        local first = CASES_START + rng.int(0, TWO_YEARS)
        list[i] = {
            device_id = rng.hex(32),
            cid = cid,
            hostname = string.format("%s-%04d", platform:lower(), i),
            platform_name = platform,
            status = rng.pick({ "normal", "normal", "normal", "contained" }),
            local_ip = string.format("10.%d.%d.%d", rng.int(0, 255), rng.int(0, 255), rng.int(1, 254)),
            first_seen = timeutil.format(first),
            last_seen = timeutil.format(first + rng.int(0, 180 * 86400)),
        }
    end
    return list
end

local GROUP_NAMES = { "Servers", "Workstations", "Finance", "Engineering", "Kiosks", "Domain controllers",
                      "Quarantine", "Lab" }

-- Host groups, each holding some of the devices (device.groups lists the group ids, as the API's).
local function host_groups(rng, devices_list)
    local groups = {}
    for i, name in ipairs(GROUP_NAMES) do
        local created = CASES_START + rng.int(0, TWO_YEARS)
        local dynamic = i % 2 == 0
        groups[i] = {
            id = rng.hex(32),
            name = name,
            description = name .. " (emulator seed)",
            group_type = dynamic and "dynamic" or "static",
            assignment_rule = dynamic and ("platform_name:'" .. PLATFORMS[(i % 3) + 1] .. "'") or "",
            created_by = "api-client-id:emulator",
            created_timestamp = timeutil.format(created),
            modified_by = "api-client-id:emulator",
            modified_timestamp = timeutil.format(created + rng.int(0, 30 * 86400)),
        }
    end
    for i, d in ipairs(devices_list) do d.groups = { groups[(i % #groups) + 1].id } end
    return groups
end

-- Samples (SampleUploads GetSampleV3) keyed by SHA-256. The first is the id the response-handling seed
-- downloads; its bytes are the emulator's own (an emulator cannot hold the real file behind that hash).
local function samples()
    return {
        ["50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c"] = {
            name = "sample.bin", bytes = "MZ\144\0\3\0\0\0 falconlua emulator sample: not malware\0\255\254",
        },
    }
end

local function entities(rng, count)
    local list = {}
    for i = 1, count do
        local user = rng.int(0, 3) > 0
        local name = user and (rng.pick(WORDS) .. "." .. rng.pick(WORDS) .. i) or string.format("WS-%04d", i)
        list[i] = {
            entityId = rng.uuid(),
            type = user and "USER" or "ENDPOINT",
            primaryDisplayName = name,
            secondaryDisplayName = "corp.example.com\\" .. name,
            riskScore = rng.int(0, 100) / 100,
            archived = false,
            accounts = { { __typename = "ActiveDirectoryAccountDescriptor", domain = "corp.example.com",
                           samAccountName = name } },
        }
    end
    return list
end

-- Replaces the collections named in `opts` with freshly generated ones. Each collection draws from
-- its own generator (seed + a fixed offset), so changing one count does not change the others.
-- opts: seed, cases, max_activities, vulnerabilities, indicators, devices, entities.
function M.apply(opts, cid)
    local seed = opts.seed or 1
    cid = cid or "c1d00000000000000000000000000001"
    local counts = {}
    if opts.cases then
        store.clear_cases()
        add_cases(new_rng(seed), opts.cases, opts.max_activities or 3, cid)
        local n = 0
        for _ in pairs(store.data.activity_by_id) do n = n + 1 end
        counts.cases, counts.activities = #store.data.cases, n
    end
    if opts.vulnerabilities then
        store.data.vulnerabilities = vulnerabilities(new_rng(seed + 101), opts.vulnerabilities, cid)
        counts.vulnerabilities = opts.vulnerabilities
    end
    if opts.indicators then
        store.data.indicators = indicators(new_rng(seed + 202), opts.indicators)
        counts.indicators = opts.indicators
    end
    if opts.devices then
        store.data.devices = devices(new_rng(seed + 303), opts.devices, cid)
        store.data.host_groups = host_groups(new_rng(seed + 505), store.data.devices)
        store.data.samples = samples()
        counts.devices = opts.devices
    end
    if opts.entities then
        store.data.entities = entities(new_rng(seed + 404), opts.entities)
        counts.entities = opts.entities
    end
    return counts
end

return M
