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
  local function environment(env)
    local vars = {
      PATH = os.getenv("PATH"), HOME = tmp .. "/home", XDG_CONFIG_HOME = tmp .. "/config",
      FALCON_CLIENT_ID = e.client_id, FALCON_CLIENT_SECRET = e.client_secret, FALCON_BASE_URL = e.url,
      FALCON_EMULATOR_DIR = tmp .. "/own-emulator", FALCON = command,
    }
    for k, v in pairs(env or {}) do vars[k] = v or nil end
    local assigns = {}
    for k, v in pairs(vars) do assigns[#assigns + 1] = k .. "=" .. quote(v) end
    return "env -i " .. table.concat(assigns, " ")
  end

  local function falcon(words, env, stdin)
    local out, err = tmp .. "/stdout", tmp .. "/stderr"
    local line = environment(env) .. " " .. quote(command) .. " " .. words
      .. " >" .. quote(out) .. " 2>" .. quote(err) .. (stdin and (" <" .. quote(stdin)) or " </dev/null")
    local _, code = emulator.run(line)
    return read(out) or "", read(err) or "", code
  end

  -- A bash script with the command's environment ($FALCON is the command): its output and exit code.
  local function sh(script, env)
    return emulator.run(environment(env) .. " bash -c " .. quote(script) .. " 2>&1 </dev/null")
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
    assert.matches("%-%-limit%s+integer%s+query%s+1%.%.500\n%s+Maximum number of records to return%. %(Max: 500%)\n", out)
    -- what it does, in the docs' words (falcon.cli.descriptions)
    assert.matches("^QueryCasesIdsByFilter %- falcon message%-center query%-cases\n  Retrieve case id's that match the "
      .. "provided filter criteria\n", out)
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

  it("uploads with --file and downloads with --output-file, streamed; a failed download leaves no file", function()
    local case_id = sorted_ids()[1]
    local bytes = {}
    for i = 1, 200000 do bytes[i] = string.char((i * 7) % 256) end
    write(tmp .. "/evidence.txt", table.concat(bytes))
    local out, err, code = falcon("message-center add-case-attachment --case-id " .. case_id
      .. " --user-uuid analyst --file " .. quote(tmp .. "/evidence.txt"))
    assert.equals(0, code, err)
    local attachment = cjson.decode(out).resources[1]
    assert.equals(200000, attachment.size)
    out, err, code = falcon("message-center download-case-attachment " .. attachment.id .. " --output-file "
      .. quote(tmp .. "/copy.txt"))
    assert.equals(0, code, err)
    assert.equals("", out)
    assert.matches("saved 200000 bytes", err)
    assert.equals(read(tmp .. "/evidence.txt"), read(tmp .. "/copy.txt"))
    -- piped stdout takes the bytes as they are
    out, _, code = falcon("call CaseDownloadAttachment id=" .. attachment.id)
    assert.equals(0, code)
    assert.equals(read(tmp .. "/evidence.txt"), out)
    out, err, code = falcon("message-center download-case-attachment no-such-id --output-file " .. quote(tmp .. "/none.txt"))
    assert.equals(1, code)
    assert.equals("", out) -- an error answer without data leaves stdout empty
    assert.matches("attachment not found.*%(trace id [%x%-]+%)", err)
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
      { "call QueryCasesIdByFilter", "did you mean QueryCasesIdsByFilter" },
      { "message-center add-case-attachment --case-id x --user-uuid y --file /no/such/file.txt",
        "^falcon: %-%-file: cannot read /no/such/file%.txt: No such file" },
      { "message-center add-case-attachment --case-id x --user-uuid y --file /etc/hostname",
        "bad value for %-%-file %(file extension one of" },
      { "message-center query-cases --limit 900", "bad value for %-%-limit %(integer 1%.%.500 expected, got 900%)" },
      { "call QueryCasesIdsByFilter limit=900", "bad value for limit %(integer 1%.%.500 expected, got 900%)" },
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
      assert.is_nil(err:find("file_path", 1, true), err) -- a name the user never typed
      assert.equals(1, #lines(err), err) -- said once
    end
    -- half of the credentials: named as the user set them, once
    local out, err, code = falcon("message-center query-cases", { FALCON_CLIENT_SECRET = false })
    assert.equals(2, code)
    assert.equals("", out)
    assert.equals("falcon: the environment gives FALCON_CLIENT_ID but no FALCON_CLIENT_SECRET\n", err)
    local config = tmp .. "/config-half"
    assert(os.execute("mkdir -p " .. quote(config .. "/falcon")))
    write(config .. "/falcon/credentials", "[half]\nclient_id = someone\n")
    assert(os.execute("chmod 600 " .. quote(config .. "/falcon/credentials")))
    out, err, code = falcon("--profile half message-center query-cases", { XDG_CONFIG_HOME = config })
    assert.equals(2, code)
    assert.equals("", out)
    assert.equals("falcon: profile 'half' (" .. config .. "/falcon/credentials) gives client_id but no client_secret\n",
      err)
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
    assert.matches("^falcon: GetCaseEntitiesByIDs: API error 404: 404 case not found .*%(no%-such%-case%)"
      .. ".*%(trace id [%x%-]+%)\n$", err)
    assert.equals("", out) -- no data in the answer: nothing on stdout
    -- a lookup where some ids were found: those are data (stdout), the rest an error (stderr, exit 1)
    local found = sorted_ids()[1]
    out, err, code = falcon("message-center get-cases " .. found .. " no-such-case")
    assert.equals(1, code)
    assert.equals(found, cjson.decode(out).resources[1].id)
    assert.matches("API error 404: .*%(no%-such%-case%)", err)
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
      _, err, code = falcon("message-center query-cases --limit 2",
        { FALCON_CLIENT_ID = false, FALCON_CLIENT_SECRET = false, FALCON_PROFILE = "lab" })
      assert.equals(0, code, err)
      -- half a pair is named, never completed from elsewhere
      _, err, code = falcon("message-center query-cases --limit 2", { FALCON_CLIENT_ID = false, FALCON_PROFILE = "lab" })
      assert.equals(2, code)
      assert.equals("falcon: the environment gives FALCON_CLIENT_SECRET but no FALCON_CLIENT_ID\n", err)
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

  -- An attachment of `size` bytes on a case; its id.
  local function attachment(size)
    write(tmp .. "/slow.txt", string.rep("x", size))
    local out, err, code = falcon("message-center add-case-attachment --case-id " .. sorted_ids()[2]
      .. " --user-uuid analyst --file " .. quote(tmp .. "/slow.txt"))
    assert.equals(0, code, err)
    return cjson.decode(out).resources[1].id
  end

  -- Every file under `dir` (a download's temporary file included).
  local function files_in(dir)
    return lines(emulator.run("find " .. quote(dir) .. " -type f"))
  end

  for _, signal in ipairs { { "INT", 130, "interrupted" }, { "TERM", 143, "stopped by SIGTERM" },
                            { "HUP", 129, "stopped by SIGHUP" } } do
    it("stops on SIG" .. signal[1] .. " in the middle of a download: exit " .. signal[2]
      .. ", no file, no temporary file, token revoked", function()
      local id = attachment(100000)
      e:control("faults", { route = "/message-center/entities/case-attachment/v1", method = "GET", delay = 8 })
      e:clear_log()
      local dir = tmp .. "/signal-" .. signal[1]
      assert(os.execute("rm -rf " .. quote(dir) .. " && mkdir -p " .. quote(dir)))
      local started = require("falcon.core").now()
      -- the signal while the answer is awaited (Ctrl-C on a terminal sends SIGINT)
      local out = sh("$FALCON message-center download-case-attachment " .. id .. " --output-file "
        .. quote(dir .. "/interrupted.txt") .. " 2>" .. quote(dir .. ".err") .. " & pid=$!; sleep 1.5; kill -"
        .. signal[1] .. " $pid; wait $pid; echo \"rc=$?\"")
      local elapsed = require("falcon.core").now() - started
      e:control("faults", { clear = true })
      assert.matches("rc=" .. signal[2], out)
      assert.equals("falcon: " .. signal[3] .. "\n", read(dir .. ".err"))
      assert.is_true(elapsed < 6, "stopped after " .. elapsed .. " s: it waited for the answer")
      assert.same({}, files_in(dir))
      assert.equals(1, requests_to("/oauth2/revoke"))
    end)
  end

  it("stops on SIGTERM while paging with --all: the items so far are out, token revoked", function()
    e:control("delays", { route = "/message-center/queries/cases/v1", delay = 0.3 })
    e:clear_log()
    local out = sh("$FALCON message-center query-cases --all --limit 2 >" .. quote(tmp .. "/paged")
      .. " 2>" .. quote(tmp .. "/paged.err") .. " & pid=$!; sleep 1.5; kill -TERM $pid; wait $pid; echo \"rc=$?\"")
    e:control("delays", { clear = true })
    assert.matches("rc=143", out)
    assert.equals("falcon: stopped by SIGTERM\n", read(tmp .. "/paged.err"))
    local got = lines(read(tmp .. "/paged") or "")
    assert.is_true(#got >= 2 and #got < 23, #got .. " items")
    for _, l in ipairs(got) do assert.matches('^"%x+"$', l) end -- whole items only
    assert.equals(1, requests_to("/oauth2/revoke"))
  end)

  it("stops on SIGINT at `falcon configure`'s prompt (stdin a pipe): exit 130, nothing written", function()
    local config = tmp .. "/config-int"
    -- the prompt waits on a pipe nobody writes to
    local out = sh("mkfifo " .. quote(tmp .. "/never") .. "; sleep 30 > " .. quote(tmp .. "/never") .. " & writer=$!; "
      .. "$FALCON configure --profile int < " .. quote(tmp .. "/never") .. " 2>" .. quote(tmp .. "/int.err")
      .. " & pid=$!; sleep 1; kill -INT $pid; wait $pid; echo \"rc=$?\"; kill $writer; rm -f " .. quote(tmp .. "/never"),
      { XDG_CONFIG_HOME = config })
    assert.matches("rc=130", out)
    assert.matches("\nclient_id: \nfalcon: interrupted\n$", read(tmp .. "/int.err"))
    assert.same({}, files_in(tmp .. "/home"))
    assert.is_nil(read(config .. "/falcon/credentials"))
  end)

  it("treats a failed write to stdout as an error (exit 1, said once) and still revokes the token", function()
    for _, words in ipairs { "ops", "message-center query-cases --all --limit 5", "help QueryCasesIdsByFilter",
                             "message-center query-cases --limit 2" } do
      e:clear_log()
      local out = sh("$FALCON " .. words .. " >/dev/full; echo \"rc=$?\"")
      assert.equals("falcon: cannot write to stdout: No space left on device\nrc=1\n", out, words)
      if words:find("query", 1, true) then assert.equals(1, requests_to("/oauth2/revoke"), words) end
    end
  end)

  it("ends quietly when stdout's reader goes away (| head -1), as cat does, and still revokes the token", function()
    local out = sh("$FALCON ops | head -1; echo \"rc=${PIPESTATUS[0]}\"")
    assert.matches("^admission%-control%-policies%s+%S+%s+%S+%s+GET /[^\n]+\nrc=141\n$", out)
    e:clear_log()
    out = sh("$FALCON message-center query-cases --all --limit 1 | head -1; echo \"rc=${PIPESTATUS[0]}\"")
    assert.matches('^"%x+"\nrc=141\n$', out)
    assert.equals(1, requests_to("/oauth2/revoke"))
    assert.is_true(requests_to("/message-center/queries/cases/v1") < 23) -- it stopped paging
  end)

  it("takes --output json|table|csv|text as the aws CLI does; a file name there names --output-file", function()
    local ids = sorted_ids()
    local dir = tmp .. "/formats"
    assert(os.execute("mkdir -p " .. quote(dir)))
    local base = "cd " .. quote(dir) .. " && $FALCON message-center query-cases --limit 2 --sort case.id.asc "
    assert.same({ ids[1], ids[2] }, cjson.decode((sh(base .. "--output json"))).resources)
    assert.same({}, files_in(dir)) -- no file named json
    assert.equals("VALUE\n" .. ids[1] .. "\n" .. ids[2] .. "\n", sh(base .. "--output table"))
    assert.equals("value\r\n" .. ids[1] .. "\r\n" .. ids[2] .. "\r\n", sh(base .. "--format csv"))
    assert.equals(ids[1] .. "\n" .. ids[2] .. "\n", sh(base .. "--output=text"))
    local _, err, code = falcon("message-center query-cases --output cases.json")
    assert.equals(2, code)
    assert.equals("falcon: --output: json, table, csv or text expected, got 'cases.json' (the file a download or "
      .. "an answer is written to: --output-file cases.json)\n", err)
    _, err, code = falcon("message-center query-cases --output json --format table")
    assert.equals(2, code)
    assert.matches("%-%-output and %-%-format name the same setting", err)
    assert.matches("%-%-output FORMAT%s+json, table, csv or text %(as the aws CLI's %-%-output%)", sh("$FALCON --help"))
  end)

  it("picks fields with --fields in every format (CSV quoted as RFC 4180 says)", function()
    local ids = sorted_ids()
    local words = "message-center get-cases " .. ids[1] .. " " .. ids[2] .. " --fields id,title,assigner.first_name"
    local out, err, code = falcon(words .. " --output csv")
    assert.equals(0, code, err)
    local rows = lines(out:gsub("\r", ""))
    assert.equals("id,title,assigner.first_name", rows[1])
    assert.equals(3, #rows)
    out = falcon(words)
    local body = cjson.decode(out)
    for _, case in ipairs(body.resources) do
      local keys = {}
      for k in pairs(case) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.same({ "assigner.first_name", "id", "title" }, keys)
    end
    out = falcon("message-center get-cases --all " .. ids[1] .. " --fields id,status")
    local item = cjson.decode(out)
    assert.equals(ids[1], item.id)
    assert.truthy(item.status)
    -- a value with a comma, a quote and a line break is quoted
    local output = require "falcon.cli.output"
    assert.equals('id,t\r\n1,"a, ""b""\nc"\r\n', output.csv({ { id = 1, t = 'a, "b"\nc' } }, { "id", "t" }))
    local _
    _, err, code = falcon("message-center query-cases --fields id")
    assert.equals(2, code)
    assert.matches("%-%-fields: the resources are plain values", err)
  end)

  it("shows requests and answers with --debug or FALCON_DEBUG, never a secret or a token", function()
    e:clear_log()
    -- an answer that carries a secret-named field: the log shows it redacted
    e:control("faults", { route = "/message-center/queries/cases/v1", kind = "rewrite",
                          set = { ["meta.access_token"] = "planted-secret-value" } })
    local plain = falcon("message-center query-cases --limit 2 --sort case.id.asc")
    for _, how in ipairs { { "", "--debug", {} }, { "--debug ", "", {} }, { "", "", { FALCON_DEBUG = "1" } } } do
      e:control("faults", { route = "/message-center/queries/cases/v1", kind = "rewrite",
                            set = { ["meta.access_token"] = "planted-secret-value" } })
      local out, err, code = falcon(how[1] .. "message-center query-cases --limit 2 --sort case.id.asc " .. how[2], how[3])
      assert.equals(0, code, err)
      assert.same(cjson.decode(plain).resources, cjson.decode(out).resources) -- stdout holds the data alone
      assert.matches("falcon debug: method=POST route=/oauth2/token status=201", err)
      assert.matches("falcon debug: > GET " .. e.url:gsub("%p", "%%%0")
        .. "/message%-center/queries/cases/v1%?limit=2&sort=case%.id%.asc\n", err)
      assert.matches("falcon debug: < 200\n", err)
      assert.matches("falcon debug: < X%-Cs%-Traceid: [%x%-]+\n", err)
      assert.matches('falcon debug: < body {.*"resources":%["%x+","%x+"%]', err)
      assert.matches('"access_token":"%[redacted%]"', err)
      assert.matches("falcon debug: method=POST route=/oauth2/revoke status=200", err)
      assert.is_nil(err:find("planted-secret-value", 1, true))
      assert.is_nil(err:find(e.client_secret, 1, true))
      for _, r in ipairs(e:requests()) do -- every token the emulator saw from this run
        local bearer = type(r.headers.authorization) == "string" and r.headers.authorization:match("Bearer (%S+)")
        if bearer then assert.is_nil(err:find(bearer, 1, true)) end
      end
    end
    e:control("faults", { clear = true })
  end)

  it("takes each setting from a flag, else the environment, else the profile", function()
    local dead = "http://127.0.0.1:9" -- nothing listens there: exit 3 shows which URL was used
    local config = tmp .. "/config-precedence"
    assert(os.execute("mkdir -p " .. quote(config .. "/falcon")))
    write(config .. "/falcon/credentials", ("[p]\nclient_id = %s\nclient_secret = %s\nbase_url = %s\n")
      :format(e.client_id, e.client_secret, dead))
    assert(os.execute("chmod 600 " .. quote(config .. "/falcon/credentials")))
    local query = "message-center query-cases --limit 1"
    local cases = {
      -- base_url: --base-url / --region > FALCON_BASE_URL > the profile's
      { "--profile p " .. query, { FALCON_BASE_URL = false }, 3 },
      { "--profile p " .. query, { FALCON_BASE_URL = e.url }, 0 },              -- no longer ignored under --profile
      { "--profile p --base-url " .. dead .. " " .. query, { FALCON_BASE_URL = e.url }, 3 },
      { query .. " --region " .. e.url, { FALCON_BASE_URL = dead }, 0 },
      -- the id and secret: --profile > FALCON_CLIENT_ID/SECRET > FALCON_PROFILE
      { "--profile p " .. query, { FALCON_BASE_URL = e.url, FALCON_CLIENT_SECRET = "wrong" }, 0 },
      { query, { FALCON_PROFILE = "p", FALCON_BASE_URL = e.url, FALCON_CLIENT_SECRET = "wrong" }, 1 },
      { query, { FALCON_PROFILE = "p", FALCON_BASE_URL = e.url, FALCON_CLIENT_ID = false, FALCON_CLIENT_SECRET = false }, 0 },
    }
    for _, c in ipairs(cases) do
      c[2].XDG_CONFIG_HOME = config
      local _, err, code = falcon(c[1], c[2])
      assert.equals(c[3], code, c[1] .. ": " .. err)
    end
    -- member_cid: the flag over the environment, as the token request shows
    e:clear_log()
    falcon(query .. " --member-cid flagcid", { FALCON_MEMBER_CID = "envcid" })
    local token_body
    for _, r in ipairs(e:requests()) do if r.uri == "/oauth2/token" then token_body = r.body end end
    assert.matches("member_cid=flagcid", token_body)
    local _, err, code = falcon(query .. " --base-url nowhere")
    assert.equals(2, code)
    assert.matches("^falcon: bad value for %-%-base%-url %(", err)
    _, err, code = falcon(query, { FALCON_BASE_URL = "nowhere" })
    assert.equals(2, code)
    assert.matches("^falcon: bad value for FALCON_BASE_URL %(", err)
  end)

  it("refuses a credentials file other users can write (as ssh does), warns when they can read it", function()
    local config = tmp .. "/config-modes"
    local path = config .. "/falcon/credentials"
    assert(os.execute("mkdir -p " .. quote(config .. "/falcon")))
    write(path, ("[default]\nclient_id = %s\nclient_secret = %s\nbase_url = %s\n"):format(e.client_id,
      e.client_secret, e.url))
    local env = { XDG_CONFIG_HOME = config, FALCON_CLIENT_ID = false, FALCON_CLIENT_SECRET = false, FALCON_BASE_URL = false }
    local query = "message-center query-cases --limit 1"
    for _, mode in ipairs { "666", "620", "602", "660" } do
      assert(os.execute("chmod " .. mode .. " " .. quote(path)))
      e:clear_log()
      local out, err, code = falcon(query, env)
      assert.equals(2, code, mode)
      assert.equals("", out)
      assert.matches("can be written by other users %(mode 0" .. mode .. "%): refusing the credentials", err)
      assert.same({}, e:requests()) -- the secret went nowhere
    end
    assert(os.execute("chmod 644 " .. quote(path)))
    local _, err, code = falcon(query, env)
    assert.equals(0, code, err)
    assert.matches("^falcon: warning: " .. path:gsub("%p", "%%%0") .. " can be read by other users %(mode 0644%)", err)
    assert(os.execute("chmod 600 " .. quote(path)))
    _, err, code = falcon(query, env)
    assert.equals(0, code, err)
    assert.equals("", err)
    -- a directory others may write to: another user could put a file of theirs in its place
    assert(os.execute("chmod 777 " .. quote(config .. "/falcon")))
    _, err, code = falcon(query, env)
    assert.equals(2, code)
    assert.matches("its directory .* can be written by other users %(owner uid %d+, mode 0777%)", err)
    assert(os.execute("chmod 700 " .. quote(config .. "/falcon")))
    -- owned by another user (the suite runs as root: chown works)
    assert(os.execute("chown nobody " .. quote(path)))
    _, err, code = falcon(query, env)
    assert.equals(2, code)
    assert.matches("is owned by another user %(uid %d+%): refusing the credentials", err)
  end)

  it("exits 1 on any answer but a 2xx (a 302 is not a success)", function()
    local hostile = require "spec.helpers.hostile"
    local s = hostile.start { 'token {"access_token":"t0k3n","expires_in":1799,"token_type":"bearer"}', "bytes redirect" }
    s:file("redirect", "HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/\r\nContent-Length: 0\r\n\r\n")
    local out, err, code = falcon("message-center query-cases --limit 1", { FALCON_BASE_URL = s.url })
    s:stop()
    assert.equals(1, code, err)
    assert.equals("", out)
    assert.matches("^falcon: QueryCasesIdsByFilter: API error 302: a redirect to https://elsewhere%.example/, not followed", err)
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
