-- The `falcon` command as a user gets it: installed by `luarocks make` into a private tree, run by
-- its wrapper against the emulator. What it prints, what reaches the API, exit codes, credentials,
-- downloads, Ctrl-C and shell completion.
local emulator = require "spec.helpers.emulator"
local rock = require "spec.helpers.rock"
local cjson = require "cjson"

local quote, read, write = emulator.quote, emulator.read_file, emulator.write_file

local function lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

describe("the falcon command (installed with the rock)", function()
  local e, tree, private, tmp, command
  local _

  setup(function()
    tree, private = rock.install()
    command = tree .. "/bin/falcon"
    e = emulator.start { seed = { cases = 23 } }
    tmp = e.dir .. "/cli"
    assert(os.execute("mkdir -p " .. quote(tmp .. "/home")))
  end)

  teardown(function()
    if tmp then emulator.run(quote(emulator.script) .. " stop --dir " .. quote(tmp .. "/own-emulator") .. " >/dev/null 2>&1") end
    if e then e:stop() end
    if private and tree then os.execute("rm -rf " .. quote(tree)) end
  end)

  -- Runs the command with a clean environment: the emulator's credentials unless `env` says
  -- otherwise (false drops a variable). Returns stdout, stderr, exit code.
  local function falcon(words, env, stdin)
    local vars = {
      PATH = os.getenv("PATH"), HOME = tmp .. "/home", XDG_CONFIG_HOME = tmp .. "/config",
      FALCON_CLIENT_ID = e.client_id, FALCON_CLIENT_SECRET = e.client_secret, FALCON_BASE_URL = e.url,
      FALCON_EMULATOR_DIR = tmp .. "/own-emulator",
    }
    for k, v in pairs(env or {}) do vars[k] = v or nil end
    local assigns = {}
    for k, v in pairs(vars) do assigns[#assigns + 1] = k .. "=" .. quote(v) end
    local out, err = tmp .. "/stdout", tmp .. "/stderr"
    local line = "env -i " .. table.concat(assigns, " ") .. " " .. quote(command) .. " " .. words
      .. " >" .. quote(out) .. " 2>" .. quote(err) .. (stdin and (" <" .. quote(stdin)) or " </dev/null")
    local _, code = emulator.run(line)
    return read(out) or "", read(err) or "", code
  end

  local function token()
    return e:token()
  end

  local function requests_to(path)
    local n = 0
    for _, r in ipairs(e:requests()) do
      if (r.uri or ""):find(path, 1, true) then n = n + 1 end
    end
    return n
  end

  local function sorted_ids()
    local ids = {}
    for _, c in ipairs(e:all_cases(token())) do ids[#ids + 1] = c.id end
    table.sort(ids)
    return ids
  end

  it("lists every operation of the tables, and filters them", function()
    local out, _, code = falcon("ops")
    assert.equals(0, code)
    local endpoints = require "falcon.endpoints"
    -- one line per operation of each collection (a few Operation IDs sit in two collections)
    local expected = 0
    local collections = {}
    for _, cname in pairs(endpoints.operations) do collections[cname] = true end
    for cname in pairs(collections) do
      local coll = endpoints.collection(cname)
      for _, op in ipairs(coll.list) do if coll.by_id[op.id] == op then expected = expected + 1 end end
    end
    assert.equals(expected, #lines(out))
    local seen = {}
    for _, l in ipairs(lines(out)) do seen[l:match("^%S+%s+%S+%s+(%S+)")] = true end
    for id in pairs(endpoints.operations) do assert.truthy(seen[id], id) end
    out, _, code = falcon("ops attachment")
    assert.equals(0, code)
    assert.matches("message%-center%s+download%-case%-attachment%s+CaseDownloadAttachment%s+GET " ..
      "/message%-center/entities/case%-attachment/v1", out)
    for _, l in ipairs(lines(out)) do assert.truthy(l:lower():find("attachment", 1, true), l) end
  end)

  it("explains an operation: names, parameters with types, limits and where they go, paging, examples", function()
    local out, _, code = falcon("help QueryCasesIdsByFilter")
    assert.equals(0, code)
    assert.matches("GET /message%-center/queries/cases/v1", out)
    assert.matches("query_cases, query_cases_ids_by_filter, QueryCasesIdsByFilter", out)
    assert.matches("%-%-limit%s+integer%s+query%s+1%.%.500", out)
    assert.matches("%-%-sort%s+string%s+query%s+one of case%.created_time%.asc", out)
    assert.matches("paging: offset", out)
    assert.matches("falcon message%-center query%-cases %-%-limit 1", out)
    assert.matches('uber:command%("QueryCasesIdsByFilter", { limit = 1 }%)', out)
    local by_name = falcon("help message-center add-case-activity")
    assert.matches("%-%-content%s+string%s+body%s+sent as body key 'body'", by_name)
    local _, err
    _, err, code = falcon("help QueryCasesIdByFilter")
    assert.equals(2, code)
    assert.matches("did you mean QueryCasesIdsByFilter", err)
  end)

  it("calls an operation by its kebab, snake_case or Operation-ID name: compact JSON when piped", function()
    local out, err, code = falcon("message-center query-cases --limit 3 --sort case.id.asc")
    assert.equals(0, code, err)
    assert.equals("", err)
    assert.equals(1, #lines(out)) -- one compact line
    local body = cjson.decode(out)
    local ids = sorted_ids()
    assert.same({ ids[1], ids[2], ids[3] }, body.resources)
    assert.equals(23, body.meta.pagination.total)
    local same = falcon("message_center QueryCasesIdsByFilter --limit=3 --sort case.id.asc")
    assert.same(body.resources, cjson.decode(same).resources)
    same = falcon("MessageCenter query_cases --limit 3 --sort=case.id.asc")
    assert.same(body.resources, cjson.decode(same).resources)
    -- the Uber form
    local uber = falcon("call QueryCasesIdsByFilter limit=3 sort=case.id.asc")
    assert.same(body.resources, cjson.decode(uber).resources)
  end)

  it("pages through everything with --all: one JSON item per line, nothing else on stdout", function()
    local ids = sorted_ids()
    for _, extra in ipairs { "", "--parallel 4" } do
      e:clear_log()
      local out, err, code = falcon("message-center query-cases --all --limit 5 --sort case.id.asc " .. extra)
      assert.equals(0, code, err)
      assert.equals("", err) -- stderr is no terminal here: no progress line
      local got = {}
      for i, l in ipairs(lines(out)) do got[i] = cjson.decode(l) end
      assert.same(ids, got)
      assert.equals(5, requests_to("/message-center/queries/cases/v1"))
    end
    -- the Uber form pages too; entity lookups come out one object per line
    local out = falcon("call QueryCasesIdsByFilter --all limit=10")
    assert.equals(#ids, #lines(out))
    local first = cjson.decode(lines(out)[1])
    local entities = falcon("message-center get-cases --all " .. first)
    assert.equals(first, cjson.decode(entities).id)
  end)

  it("prints flat resources as a table, takes --body @file and positional ids", function()
    local ids = sorted_ids()
    write(tmp .. "/ids.json", cjson.encode { ids = { ids[1], ids[2] } })
    local out, err, code = falcon("message-center get-cases --body @" .. quote(tmp .. "/ids.json") .. " --format table")
    assert.equals(0, code, err)
    local rows = lines(out)
    assert.equals(3, #rows)
    assert.matches("^ID%s+", rows[1])
    assert.matches("TITLE", rows[1])
    local shown = { rows[2]:match("^(%x+)"), rows[3]:match("^(%x+)") }
    table.sort(shown)
    assert.same({ ids[1], ids[2] }, shown)
    out = falcon("message-center get-cases " .. ids[3] .. " " .. ids[4] .. " --format table")
    assert.equals(3, #lines(out))
    out = falcon("message-center query-cases --limit 2 --sort case.id.asc --format table")
    assert.same({ "VALUE", ids[1], ids[2] }, lines(out))
  end)

  it("uploads with --file and downloads with --output, streamed; a failed download leaves no file", function()
    local case_id = sorted_ids()[1]
    local bytes = {}
    for i = 1, 200000 do bytes[i] = string.char((i * 7) % 256) end
    write(tmp .. "/evidence.txt", table.concat(bytes))
    local out, err, code = falcon("message-center add-case-attachment --case-id " .. case_id
      .. " --user-uuid analyst --file " .. quote(tmp .. "/evidence.txt"))
    assert.equals(0, code, err)
    local attachment = cjson.decode(out).resources[1]
    assert.equals(200000, attachment.size)
    out, err, code = falcon("message-center download-case-attachment " .. attachment.id .. " --output "
      .. quote(tmp .. "/copy.txt"))
    assert.equals(0, code, err)
    assert.equals("", out)
    assert.matches("saved 200000 bytes", err)
    assert.equals(read(tmp .. "/evidence.txt"), read(tmp .. "/copy.txt"))
    -- piped stdout takes the bytes as they are
    out, _, code = falcon("call CaseDownloadAttachment id=" .. attachment.id)
    assert.equals(0, code)
    assert.equals(read(tmp .. "/evidence.txt"), out)
    out, err, code = falcon("message-center download-case-attachment no-such-id --output " .. quote(tmp .. "/none.txt"))
    assert.equals(1, code)
    assert.matches("attachment not found", out) -- the API's error body is data too
    assert.matches("attachment not found %(trace id [%x%-]+%)", err)
    assert.is_nil(read(tmp .. "/none.txt"))
    assert.is_nil(read(tmp .. "/none.txt.part"))
  end)

  it("exits 2 on usage errors with the nearest names, before anything is sent", function()
    e:clear_log()
    local cases = {
      { "mesage-center query-cases", "did you mean message%-center" },
      { "message-center query-casess", "did you mean query%-cases" },
      { "message-center query-cases --limt 3", "did you mean %-%-limit" },
      { "message-center query-cases --limit many", "%-%-limit: integer expected, got 'many'" },
      { "message-center query-cases --limit 900", "bad argument 'limit' %(integer 1%.%.500 expected" },
      { "call QueryCasesIdByFilter", "did you mean QueryCasesIdsByFilter" },
      { "message-center add-case-attachment --case-id x --user-uuid y --file /no/such/file.txt", "file_path" },
      { "message-center query-cases --parallel 4", "%-%-parallel works with %-%-all" },
      { "message-center get-cases --body @/no/such.json", "%-%-body: cannot read" },
    }
    for _, c in ipairs(cases) do
      local out, err, code = falcon(c[1])
      assert.equals(2, code, c[1] .. ": " .. err)
      assert.equals("", out)
      assert.matches(c[2], err)
      assert.matches("^falcon: ", err)
      assert.is_nil(err:find("falcon: falcon:", 1, true), err) -- the SDK's own errors carry the prefix already
    end
    assert.same({}, e:requests()) -- not even a token request
  end)

  it("maps flags to the operation's own names: camelCase, and a `format` parameter beside --output-format", function()
    e:clear_log()
    local _, err = falcon("event-streams list-available-streams-o-auth-2 --app-id my-app --format json "
      .. "--output-format table")
    assert.is_nil(err:find("usage", 1, true), err)
    local sent
    for _, r in ipairs(e:requests()) do
      if (r.uri or ""):find("/sensors/entities/datafeed/v2", 1, true) then sent = r end
    end
    assert.truthy(sent, "nothing reached the API: " .. err)
    assert.matches("appId=my%-app", sent.args)
    assert.matches("format=json", sent.args)
  end)

  it("exits 1 on an API error (message and trace id on stderr), 3 on a transport error", function()
    local out, err, code = falcon("message-center get-cases no-such-case")
    assert.equals(1, code)
    assert.matches("GetCaseEntitiesByIDs: API error 404: 404 case not found .*%(trace id [%x%-]+%)", err)
    assert.equals("no-such-case", cjson.decode(out).errors[1].id) -- the API's answer is still data
    out, err, code = falcon("message-center query-cases", { FALCON_BASE_URL = "http://127.0.0.1:9" })
    assert.equals(3, code)
    assert.equals("", out)
    assert.matches("transport error %(connect%)", err)
    _, err, code = falcon("message-center query-cases", { FALCON_CLIENT_SECRET = "wrong" })
    assert.equals(1, code)
    assert.matches("API error 403", err)
    assert.is_nil(err:find("wrong", 1, true))
  end)

  it("revokes the token it fetched for the run", function()
    e:clear_log()
    local _, err, code = falcon("message-center query-cases --limit 1")
    assert.equals(0, code, err)
    assert.equals(1, requests_to("/oauth2/token"))
    assert.equals(1, requests_to("/oauth2/revoke"))
  end)

  it("takes credentials from a profile written by `falcon configure` (mode 0600), never from the command line",
    function()
      write(tmp .. "/answers", table.concat({ e.client_id, e.client_secret, e.url, "" }, "\n") .. "\n")
      local no_env = { FALCON_CLIENT_ID = false, FALCON_CLIENT_SECRET = false, FALCON_BASE_URL = false }
      local out, err, code = falcon("configure --profile lab", no_env, tmp .. "/answers")
      assert.equals(0, code, err)
      assert.equals("", out)
      assert.is_nil(err:find(e.client_secret, 1, true))
      local path = tmp .. "/config/falcon/credentials"
      local mode = emulator.run("stat -c %a " .. quote(path))
      assert.equals("600", (mode:gsub("%s+$", "")))
      assert.matches("%[lab%]\nclient_id = " .. e.client_id, read(path))
      for _, words in ipairs { "--profile lab message-center query-cases --limit 2",
                               "message-center query-cases --limit 2 --profile=lab" } do
        out, err, code = falcon(words, no_env)
        assert.equals(0, code, err)
        assert.equals(2, #cjson.decode(out).resources)
      end
      -- FALCON_PROFILE picks it too; an unknown profile is a usage error with the nearest name
      _, err, code = falcon("message-center query-cases --limit 2", { FALCON_CLIENT_ID = false, FALCON_PROFILE = "lab" })
      assert.equals(0, code, err)
      _, err, code = falcon("message-center query-cases --profile lap", no_env)
      assert.equals(2, code)
      assert.matches("no profile 'lap'.*did you mean 'lab'", err)
      _, err, code = falcon("message-center query-cases", no_env)
      assert.equals(2, code)
      assert.matches("no credentials", err)
      _, err, code = falcon("configure --client-secret " .. e.client_secret, no_env)
      assert.equals(2, code)
      assert.matches("never taken from the command line", err)
    end)

  it("stops on Ctrl-C in the middle of a download: exit 130, no file, no .part, token revoked", function()
    local case_id = sorted_ids()[2]
    write(tmp .. "/slow.txt", string.rep("x", 100000))
    local out, err, code = falcon("message-center add-case-attachment --case-id " .. case_id
      .. " --user-uuid analyst --file " .. quote(tmp .. "/slow.txt"))
    assert.equals(0, code, err)
    local id = cjson.decode(out).resources[1].id
    e:control("faults", { route = "/message-center/entities/case-attachment/v1", method = "GET", delay = 8 })
    e:clear_log()
    local target = tmp .. "/interrupted.txt"
    local started = require("falcon.core").now()
    -- SIGINT, as the terminal sends it on Ctrl-C, while the answer is awaited
    local shell = "( " .. "env -i PATH=" .. quote(os.getenv("PATH")) .. " FALCON_CLIENT_ID=" .. quote(e.client_id)
      .. " FALCON_CLIENT_SECRET=" .. quote(e.client_secret) .. " FALCON_BASE_URL=" .. quote(e.url) .. " "
      .. quote(command) .. " message-center download-case-attachment " .. id .. " --output " .. quote(target)
      .. " 2>" .. quote(tmp .. "/int.err") .. " & pid=$!; sleep 1.5; kill -INT $pid; wait $pid; echo \"rc=$?\" )"
    local result = emulator.run(shell)
    local elapsed = require("falcon.core").now() - started
    assert.matches("rc=130", result)
    assert.matches("interrupted", read(tmp .. "/int.err"))
    assert.is_true(elapsed < 6, "stopped after " .. elapsed .. " s: it waited for the answer")
    assert.is_nil(read(target))
    assert.is_nil(read(target .. ".part"))
    assert.equals(1, requests_to("/oauth2/revoke"))
    e:control("faults", { clear = true })
  end)

  it("completes collections, operations and parameters in bash, from the tables", function()
    local script = tmp .. "/falcon.bash"
    local out, _, code = falcon("completion bash")
    assert.equals(0, code)
    write(script, out)
    local function complete(line)
      local words = {}
      for w in line:gmatch("%S+") do words[#words + 1] = w end
      if line:sub(-1) == " " then words[#words + 1] = "" end
      local quoted = {}
      for i, w in ipairs(words) do quoted[i] = quote(w) end
      local text = emulator.run("PATH=" .. quote(tree .. "/bin:" .. os.getenv("PATH")) .. " bash -c "
        .. quote(". " .. quote(script) .. "; COMP_WORDS=(" .. table.concat(quoted, " ") .. "); COMP_CWORD="
          .. (#words - 1) .. "; _falcon; printf '%s\\n' \"${COMPREPLY[@]}\""))
      return lines(text)
    end
    assert.same({ "message-center" }, complete("falcon message-ce"))
    local ops = complete("falcon message-center ")
    assert.equals(11, #ops)
    assert.truthy(table.concat(ops, " "):find("query-cases", 1, true))
    assert.same({ "--case-id" }, complete("falcon message-center query-activities --case"))
    assert.same({ "QueryCasesIdsByFilter" }, complete("falcon call QueryCasesIds"))
    assert.same({ "filter=" }, complete("falcon call QueryCasesIdsByFilter fil"))
    out, _, code = falcon("completion zsh")
    assert.equals(0, code)
    assert.matches("compdef _falcon falcon", out)
  end)

  it("starts, describes and stops an emulator of its own", function()
    local out, err, code = falcon("emulator start")
    assert.equals(0, code, err)
    assert.matches("Falcon API emulator running", out)
    local env
    env, err, code = falcon("emulator env")
    assert.equals(0, code, err)
    local url = env:match("export FALCON_BASE_URL='([^']+)'")
    assert.truthy(url)
    assert.are_not.equal(e.url, url)
    local id = env:match("export FALCON_CLIENT_ID='([^']+)'")
    local secret = env:match("export FALCON_CLIENT_SECRET='([^']+)'")
    out, err, code = falcon("message-center query-cases --limit 1",
      { FALCON_BASE_URL = url, FALCON_CLIENT_ID = id, FALCON_CLIENT_SECRET = secret })
    assert.equals(0, code, err)
    assert.equals(1, #cjson.decode(out).resources)
    _, err, code = falcon("emulator stop")
    assert.equals(0, code, err)
    _, _, code = falcon("message-center query-cases --limit 1",
      { FALCON_BASE_URL = url, FALCON_CLIENT_ID = id, FALCON_CLIENT_SECRET = secret })
    assert.equals(3, code)
  end)
end)
