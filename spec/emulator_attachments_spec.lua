-- Emulator: CaseAddAttachment / CaseDownloadAttachment — byte-exact round trips at 0 B, 1 B and
-- 15 MB, the 15 MB + 1 rejection, file-name and extension rules, and the error envelopes.
local emu = require "spec.helpers.emulator"

local LIMIT = 15 * 1024 * 1024

describe("emulator attachments", function()
    local e, token, case_id, work

    setup(function()
        e = emu.start()
        e:control("reset", { seed = { seed = 3, cases = 5 } })
        token = e:token()
        case_id = e:http{ path = "/message-center/queries/cases/v1", token = token, query = { { "limit", 1 } } }
            .json.resources[1]
        work = e.dir .. "/spec-files"
        emu.run("mkdir -p " .. emu.quote(work))
    end)
    teardown(function()
        if e then e:stop() end
    end)

    local function make_file(name, size)
        local path = work .. "/" .. name
        if size == 0 then
            emu.run(": > " .. emu.quote(path))
        else
            emu.run("head -c " .. size .. " /dev/urandom > " .. emu.quote(path))
        end
        return path
    end

    local function upload(path, filename, fields)
        local form = {}
        for _, f in ipairs(fields or { { name = "case_id", value = case_id }, { name = "user_uuid", value = "uploader-1" } }) do
            form[#form + 1] = f
        end
        if path then
            form[#form + 1] = { name = "file", path = path, filename = filename, type = "application/octet-stream" }
        end
        return e:http{ method = "POST", path = "/message-center/entities/case-attachment/v1", token = token, form = form }
    end

    local function round_trip(size, filename)
        local path = make_file("in-" .. size, size)
        local resp = upload(path, filename)
        assert.equal(200, resp.status, resp.body)
        local meta = resp.json.resources[1]
        assert.equal(filename, meta.name)
        assert.equal(size, meta.size)
        assert.equal("uploader-1", meta.created_by)
        assert.matches("^%x+$", meta.id)
        assert.equal(32, #meta.id)
        assert.is_string(meta.created_time)
        local out = work .. "/out-" .. size
        local down = e:http{ path = "/message-center/entities/case-attachment/v1", token = token,
                             query = { { "id", meta.id } }, save = out }
        assert.equal(200, down.status)
        assert.equal("application/octet-stream", down.headers["content-type"])
        assert.equal(tostring(size), down.headers["content-length"])
        local _, same = emu.run("cmp -s " .. emu.quote(path) .. " " .. emu.quote(out))
        assert.equal(0, same, "downloaded bytes differ from uploaded ones")
        return meta
    end

    it("round-trips an empty file", function()
        local meta = round_trip(0, "empty.txt")
        assert.equal("text/plain", meta.mime_type)
    end)

    it("round-trips a 1-byte file", function()
        assert.equal("image/png", round_trip(1, "one.png").mime_type)
    end)

    it("round-trips exactly 15 MB and lists it on the case; the log keeps a capped body", function()
        e:clear_log()
        local meta = round_trip(LIMIT, "big-file_v1.pdf")
        assert.equal("application/pdf", meta.mime_type)
        local c = e:http{ method = "POST", path = "/message-center/entities/cases/GET/v1", token = token,
                          json = '{"ids":["' .. case_id .. '"]}' }.json.resources[1]
        local listed = false
        for _, a in ipairs(c.attachments) do
            if a.id == meta.id then listed = (a.size == LIMIT) end
        end
        assert.is_true(listed)
        local log = e:requests()
        local entry = log[1]
        assert.equal("/message-center/entities/case-attachment/v1", entry.uri)
        assert.equal("POST", entry.method)
        assert.is_true(entry.body_length > LIMIT)
        assert.equal(65536, #entry.body)
    end)

    it("refuses 15 MB + 1 byte with 400 and stores nothing", function()
        local before = e:control("state", {}).attachments
        local resp = upload(make_file("too-big", LIMIT + 1), "too-big.txt")
        assert.equal(400, resp.status)
        assert.equal(400, resp.json.errors[1].code)
        assert.matches("maximum", resp.json.errors[1].message)
        assert.equal(before, e:control("state", {}).attachments)
        local leftovers = emu.run("ls -A " .. emu.quote(e.dir .. "/attachments") .. " | grep -c upload || true")
        assert.equal("0", leftovers:gsub("%s", ""))
    end)

    it("enforces the file-name rules and allowed extensions", function()
        local path = make_file("small", 10)
        local good = { "A.PNG", "x.jpeg", "report-2024_final.docx", "_.csv", "-.xlsx", string.rep("a", 251) .. ".txt" }
        for _, name in ipairs(good) do
            assert.equal(200, upload(path, name).status, name)
        end
        local bad = {
            { ".hidden.txt", "start" }, { "with space.txt", "only contain" }, { "plus+sign.txt", "only contain" },
            { "naïve.txt", "only contain" }, { string.rep("a", 252) .. ".txt", "255" },
            { "program.exe", "not allowed" }, { "archive.tar.gz", "not allowed" }, { "noextension", "not allowed" },
        }
        for _, case in ipairs(bad) do
            local resp = upload(path, case[1])
            assert.equal(400, resp.status, case[1])
            assert.matches(case[2], resp.json.errors[1].message, 1, true)
        end
    end)

    it("requires case_id, user_uuid and file; unknown cases get 404", function()
        local path = make_file("small2", 3)
        local resp = upload(path, "a.txt", { { name = "user_uuid", value = "u" } })
        assert.equal(400, resp.status)
        assert.matches("case_id", resp.json.errors[1].message)
        resp = upload(path, "a.txt", { { name = "case_id", value = case_id } })
        assert.equal(400, resp.status)
        assert.matches("user_uuid", resp.json.errors[1].message)
        resp = upload(nil, nil)
        assert.equal(400, resp.status)
        assert.matches("file", resp.json.errors[1].message)
        resp = upload(path, "a.txt", { { name = "case_id", value = "nope" }, { name = "user_uuid", value = "u" } })
        assert.equal(404, resp.status)
        assert.equal("nope", resp.json.errors[1].id)
        local not_multipart = e:http{ method = "POST", path = "/message-center/entities/case-attachment/v1",
                                      token = token, json = "{}" }
        assert.equal(400, not_multipart.status)
        assert.matches("multipart", not_multipart.json.errors[1].message)
    end)

    it("answers downloads of unknown ids with a 404 JSON envelope and a missing id with 400", function()
        local resp = e:http{ path = "/message-center/entities/case-attachment/v1", token = token,
                             query = { { "id", "0000" } } }
        assert.equal(404, resp.status)
        assert.equal("application/json", resp.headers["content-type"])
        assert.equal("0000", resp.json.errors[1].id)
        resp = e:http{ path = "/message-center/entities/case-attachment/v1", token = token }
        assert.equal(400, resp.status)
        assert.matches("id", resp.json.errors[1].message)
    end)

    it("answers bodies beyond nginx's ceiling with a 413 JSON envelope", function()
        local path = work .. "/huge"
        emu.run("truncate -s 70M " .. emu.quote(path))
        local answer = work .. "/huge-answer"
        local code = emu.run("curl -s -o " .. emu.quote(answer) .. " -w '%{http_code}' "
            .. "-H 'Content-Type: multipart/form-data; boundary=x' "
            .. "-H " .. emu.quote("Authorization: Bearer " .. token) .. " --data-binary @" .. emu.quote(path) .. " "
            .. emu.quote(e.url .. "/message-center/entities/case-attachment/v1"))
        assert.equal("413", code)
        local f = assert(io.open(answer, "rb"))
        local body = require("cjson").decode(f:read("*a"))
        f:close()
        assert.equal(413, body.errors[1].code)
    end)
end)
