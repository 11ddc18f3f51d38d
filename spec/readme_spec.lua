-- Every command and snippet of the project's docs works as printed (issue 20).
--
-- The convention (README.md, "Snippets in the docs", tells contributors the same):
-- * Every Markdown file of the repository is read (`git ls-files '*.md'`: README.md, emulator/, bench/,
--   examples/, docs/, any file added later); each fenced block is taken by its language.
-- * ```lua runs against a fresh emulator, in document order with the doc's other Lua snippets, in one
--   process of the VM running this spec (so under lua5.4 and under luajit). FALCON_CLIENT_ID and
--   FALCON_CLIENT_SECRET are the emulator's demo client, FALCON_BASE_URL its URL, and every cloud name
--   (us-1, "us-2", ...) leads to the emulator's port for that region: `base_url = "us-2"` runs as written.
--   `...` is nil. A snippet sees the standard globals and `falcon`; any other name it uses is declared on
--   its first line, `-- test: needs mc, id`, and comes from the top-level locals (or globals) of an earlier
--   snippet of the same doc, else from a fixture: mc, uber, idp (service objects on the emulator), id or
--   case_id (a new case), case_ids (two new cases), user (a user uuid), QUERY and variables (a GraphQL
--   entities query). An undeclared name is an error that says what to declare.
-- * ```sh / ```bash runs with `bash -e` (a failing command fails the block; `| head` is fine) in a fresh
--   clone-like copy of the repository (its files as git would check them out, build/ as `make build` left
--   it, nothing else: no logs/, no build/emulator), from its root, with the same FALCON_* variables and no
--   LUA_PATH/LUA_CPATH. A doc's blocks form one shell session: variables (exported or not) and the working
--   directory carry over to its next block. `# test: needs ID` declares a variable an earlier block sets;
--   `# test: port 8088` holds a machine-wide lock on a fixed port the doc prints while the block runs.
--   A server the doc starts must be stopped by the doc: an nginx still running after its last block fails.
--   Slow or recursive make targets run dry: `make test`, `check-asan`, `check-valgrind`, `fuzz`,
--   `fuzz-smoke` and `bench` run as `make -n TARGET` (the target exists, its prerequisites resolve, its
--   recipe expands; nothing runs), since `make test` runs this spec and the others take minutes;
--   `apt-get` runs with --simulate. Every other command (`make demo` included) runs for real.
-- * `-- test: shape` / `# test: shape`: the block only shows a shape (an options table, a response, a
--   synopsis): it is syntax-checked, not run (Lua: compiled as statements or as an expression, under both
--   VMs; shell: bash -n).
-- * `-- test: nginx`: the Lua snippet runs inside nginx (ngx_lua, content phase, `lua_shared_dict
--   falcon_tokens`), with the same emulator and fixtures.
-- * ```nginx blocks are http-context directives, checked with `nginx -t` inside a minimal configuration.
-- * Other blocks (```text, ```json: output) are not run. A fence without a language fails: label it.
-- * A `make ...` command named in the prose (a table of commands, say) must exist: checked with make -n.
-- Shell, nginx and in-nginx Lua blocks run in the lua5.4 pass only: they do not depend on the busted VM.
local cjson = require "cjson"
local emulator = require "spec.helpers.emulator"
local openresty = require "spec.helpers.openresty"
local snippets = require "spec.helpers.snippets"

local quote, run = emulator.quote, emulator.run
local VM = require "spec.helpers.vm"
local ONCE = VM == "lua5.4"
local ROOT = emulator.script:match("^(.*)/emulator/falcon%-emulator$")
local DRY_RUN_TARGETS = "test|check-asan|check-valgrind|fuzz|fuzz-smoke|bench"
local BLOCK_SECONDS = 240

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function trim(s) return (s:gsub("%s+$", "")) end

local function where(block) return block.doc .. ":" .. block.line end

-- A clone-like copy of the repository: the files git would check out (plus new ones not ignored), with
-- their times, and build/ as `make build` left it. Like a clone in /root, it lies in a folder only its
-- owner may enter (mktemp's), so a doc that starts nginx workers as another user fails here as it would there.
local function make_checkout(dir)
  local out, code = run(table.concat({
    "cd " .. quote(ROOT),
    -- (a file deleted but not yet committed is left out: --ignore-failed-read)
    "git ls-files -co --exclude-standard -z | tar --null -T - --ignore-failed-read -cf - 2>/dev/null"
      .. " | tar -C " .. quote(dir) .. " -xpf -",
    "mkdir -p " .. quote(dir .. "/build"),
    "cp -a build/lua5.4 build/luajit build/spec " .. quote(dir .. "/build/"),
  }, " && ") .. " 2>&1")
  assert(code == 0, "could not copy the repository: " .. out)
end

-- nginx processes whose pid files are under dir: stopped; returns the pid files that were live. With
-- `grace`, a server told to quit a moment ago (nginx -s quit returns at once) gets two seconds to be gone.
local function stop_servers(dir, grace)
  local live = {}
  local files = run("find " .. quote(dir) .. " -name '*.pid' 2>/dev/null")
  for file in files:gmatch("[^\n]+") do
    local pid = trim(emulator.read_file(file) or "")
    local function alive() return select(2, run("kill -0 " .. pid .. " 2>/dev/null")) == 0 end
    for _ = 1, grace and 40 or 0 do
      if not (pid:match("^%d+$") and alive()) then break end
      run("sleep 0.05")
    end
    if pid:match("^%d+$") and alive() and run("cat /proc/" .. pid .. "/comm 2>/dev/null"):find("nginx", 1, true) then
      live[#live + 1] = file:sub(#dir + 2)
      run("kill -QUIT " .. pid .. " 2>/dev/null")
      for _ = 1, 100 do
        if select(2, run("kill -0 " .. pid .. " 2>/dev/null")) ~= 0 then break end
        run("sleep 0.05")
      end
      run("kill -KILL " .. pid .. " 2>/dev/null")
    end
  end
  return live
end

-- One shell session per doc: each block runs in a fresh bash that first restores the variables and the
-- working directory the previous block left.
local SESSION = [[
unset LD_PRELOAD LUA_PATH LUA_CPATH LUA_INIT FALCON_TEST_VM
cd "$(cat "$__snippet_session/cwd")"
source "$__snippet_session/state.sh"
make() {
  case " $* " in
    *" "@TARGETS@" "*) command make -n "$@" ;;
    *) command make "$@" ;;
  esac
}
apt-get() { command apt-get --simulate "$@"; }
for __name in @NEEDS@; do
  [ -n "${!__name+set}" ] || { echo "needs \$$__name, which no earlier block of this doc sets" >&2; exit 97; }
done
set -e
source "$__snippet_session/block.sh"
set +e
pwd > "$__snippet_session/cwd"
for __name in $(compgen -v); do
  case $__name in
    BASH*|FUNCNAME|PIPESTATUS|GROUPS|DIRSTACK|EUID|UID|PPID|SHELLOPTS|RANDOM|SRANDOM|SECONDS|LINENO|EPOCH*|HIST*|\
    OPTIND|OPTERR|COMP*|_|__name|__snippet_session) ;;
    *) declare -p "$__name" 2>/dev/null | grep -v '^declare -[a-zA-Z]*r' ;;
  esac
done > "$__snippet_session/state.next"
mv "$__snippet_session/state.next" "$__snippet_session/state.sh"
]]

local function shell_session(checkout, env)
  local dir = trim(run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-session.XXXXXX\""))
  write(dir .. "/cwd", checkout .. "\n")
  write(dir .. "/state.sh", "")
  local session = { dir = dir }
  function session.run(block)
    write(dir .. "/block.sh", block.code)
    local body = SESSION:gsub("@(%u+)@", { TARGETS = DRY_RUN_TARGETS:gsub("|", "\" \"*|*\" \""),
                                            NEEDS = table.concat(block.needs, " ") })
    write(dir .. "/session.sh", body)
    local command = env .. " __snippet_session=" .. quote(dir) .. " timeout -k 5 " .. BLOCK_SECONDS
      .. " bash " .. quote(dir .. "/session.sh") .. " </dev/null > " .. quote(dir .. "/out") .. " 2>&1"
    if block.port then
      command = "flock /tmp/falconlua-port-" .. block.port .. ".lock sh -c " .. quote(command)
    end
    local _, code = run(command)
    return code, emulator.read_file(dir .. "/out") or ""
  end
  function session.close() run("rm -rf " .. quote(dir)) end
  return session
end

-- nginx running snippets in its content phase (for `-- test: nginx`), as the example in README.md does.
local NGINX_CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
user @USER@;
daemon on;
worker_processes 1;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log warn;
env FALCON_CLIENT_ID; env FALCON_CLIENT_SECRET; env FALCON_BASE_URL;
env FALCON_EMULATOR_REGION_US_1; env FALCON_EMULATOR_REGION_US_2; env FALCON_EMULATOR_REGION_EU_1;
env FALCON_EMULATOR_REGION_US_GOV_1; env FALCON_EMULATOR_REGION_US_GOV_2;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path @DIR@/tmp;
    lua_package_path "@ROOT@/lua/?.lua;@ROOT@/lua/?/init.lua;@ROOT@/?.lua;/usr/share/lua/5.1/?.lua;;";
    lua_package_cpath "@ROOT@/build/luajit/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;";
    lua_shared_dict falcon_tokens 1m;
    server {
        listen 127.0.0.1:@PORT@;
        location /run {
            content_by_lua_block {
                assert(loadfile("@ROOT@/spec/helpers/snippet_runner.lua"))("@INPUT@", "@OUTPUT@")
                ngx.say("done")
            }
        }
    }
}
]]

local function emulator_env(emu)
  local env = {
    FALCON_CLIENT_ID = emu.client_id, FALCON_CLIENT_SECRET = emu.client_secret, FALCON_BASE_URL = emu.url,
  }
  for region, url in pairs(emu.regions) do env["FALCON_EMULATOR_REGION_" .. region:upper():gsub("-", "_")] = url end
  local parts = {}
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. quote(v) end
  table.sort(parts)
  return "env " .. table.concat(parts, " ")
end

-- Runs the Lua snippets of `blocks` (those inside nginx, or the others) in one process; one result each.
-- ctx: work (a folder), emu, env (the emulator's variables as an `env ...` prefix).
local function run_lua(ctx, blocks, in_nginx)
  local work, emu, env = ctx.work, ctx.emu, ctx.env
  local list, index = {}, {}
  for _, block in ipairs(blocks) do
    if block.kind == "lua" and not block.problem and (block.nginx or false) == in_nginx then
      list[#list + 1] = { name = where(block), code = block.code, shape = block.shape or false,
                          needs = setmetatable(block.needs, cjson.empty_array_mt) }
      index[block] = #list
    end
  end
  local input, output = work .. "/snippets.json", work .. "/results.json"
  write(input, cjson.encode(list))
  os.remove(output)
  emu:control("reset", {})
  local out
  if in_nginx then
    local dir = work .. "/nginx"
    run("rm -rf " .. quote(dir) .. " && mkdir -p " .. quote(dir .. "/tmp"))
    local port = openresty.free_ports(1)[1]
    local user = trim(run("id -un")) .. " " .. trim(run("id -gn"))
    write(dir .. "/nginx.conf", (NGINX_CONF:gsub("@(%u+)@", { USER = user, DIR = dir, ROOT = ROOT, PORT = port,
                                                              INPUT = input, OUTPUT = output })))
    local started, code = run(env .. " nginx -p " .. quote(dir) .. " -c nginx.conf -e "
      .. quote(dir .. "/error.log") .. " 2>&1")
    assert(code == 0, "nginx did not start: " .. started)
    for _ = 1, 100 do
      out, code = run("curl -sS --max-time 120 http://127.0.0.1:" .. port .. "/run 2>&1")
      if code ~= 7 then break end
      run("sleep 0.05")
    end
    out = out .. "\n" .. (emulator.read_file(dir .. "/error.log") or "")
    stop_servers(dir)
  else
    -- Under `make check-asan` the snippets run on the sanitized core, with its runtime preloaded again
    -- (emulator.run drops LD_PRELOAD for the tools it starts).
    local preload = os.getenv("LD_PRELOAD")
    out = run(env .. (preload and (" LD_PRELOAD=" .. quote(preload)) or "") .. " " .. VM .. " "
      .. quote(ROOT .. "/spec/helpers/snippet_runner.lua") .. " " .. quote(input) .. " " .. quote(output) .. " 2>&1")
  end
  local results = cjson.decode(emulator.read_file(output) or "null")
  assert(type(results) == "table", "the snippet runner ended early:\n" .. out)
  return { index = index, results = results, out = out }
end

-- The blocks of every doc, read when the spec loads so that each gets its own test.
local docs = {}
for _, path in ipairs(snippets.docs(ROOT)) do
  local blocks, mentions = snippets.blocks(ROOT .. "/" .. path, path)
  docs[#docs + 1] = { path = path, blocks = blocks, mentions = mentions }
end

describe("the docs' snippets, as printed", function()
  local emu, work, checkout, env, ctx

  setup(function()
    emu = emulator.start()
    env = emulator_env(emu)
    work = trim(run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-readme.XXXXXX\""))
    ctx = { work = work, emu = emu, env = env }
    checkout = work .. "/falconlua"
    run("mkdir -p " .. quote(checkout))
    if ONCE then make_checkout(checkout) end
  end)

  teardown(function()
    if work then
      stop_servers(work)
      run("rm -rf " .. quote(work))
    end
    if emu then emu:stop() end
  end)

  -- The checker itself: a broken snippet must fail, or every test below could pass for nothing.
  describe("the checker", function()
    it("finds the docs (git ls-files)", function()
      local found = {}
      for _, doc in ipairs(docs) do found[doc.path] = true end
      assert.is_true(found["README.md"] and found["emulator/README.md"] and found["bench/README.md"]
        and found["examples/openresty/README.md"], "the docs were not found: is this a git checkout?")
    end)

    local FIXTURE = table.concat({
      "```lua", "local x = 1", "```",
      "```lua", "print(y)", "```",
      "```lua", "-- test: needs x", "assert(x == 1)", "```",
      "```lua", "error('broken')", "```",
      "```lua", "-- test: shape", "for i in x do ... end", "```",
      "```lua", "-- test: shape", "{ status_code = 200, body = {...} }", "```",
      "```lua", "-- test: sideways", "```",
      "```", "a bare fence", "```",
      "```sh", "V=5", "```",
      "```sh", "# test: needs V", "test \"$V\" = 5", "make test", "```",
      "```sh", "false", "echo the block goes on", "```",
      "Named: `make no-such-target`.", "",
    }, "\n")
    local blocks, mentions

    setup(function()
      write(work .. "/fixture.md", FIXTURE)
      blocks, mentions = snippets.blocks(work .. "/fixture.md", "fixture.md")
    end)

    it("reads kinds, directives and problems", function()
      local kinds = {}
      for i, block in ipairs(blocks) do kinds[i] = (block.kind or "none") .. (block.problem and "!" or "") end
      assert.same({ "lua", "lua", "lua", "lua", "lua", "lua", "lua!", "none!", "sh", "sh", "sh" }, kinds)
      assert.same({ "x" }, blocks[3].needs)
      assert.is_true(blocks[5].shape)
      assert.matches("unknown word 'sideways'", blocks[7].problem)
      assert.same({ { line = 40, command = "make no-such-target" } }, mentions)
    end)

    it("fails a Lua snippet that raises, uses an undeclared name or is not Lua; passes the others", function()
      local set = run_lua(ctx, blocks, false)
      local function result(i) return set.results[set.index[blocks[i]]] end
      assert.is_true(result(1).ok)
      assert.is_false(result(2).ok)
      assert.matches("uses 'y', which it does not declare", result(2).error)
      assert.is_true(result(3).ok, result(3).error)
      assert.is_false(result(4).ok)
      assert.matches("broken", result(4).error)
      assert.is_false(result(5).ok)
      assert.is_true(result(6).ok, result(6).error)
    end)

    if ONCE then
      it("carries a shell session over, runs make test dry, and fails a block whose command fails", function()
        local session = shell_session(checkout, env)
        local code, out = session.run(blocks[9])
        assert.equals(0, code, out)
        code, out = session.run(blocks[10])
        assert.equals(0, code, out)
        assert.matches("spec/run", out) -- what make -n prints; running it would recurse
        code, out = session.run(blocks[11])
        assert.equals(1, code)
        assert.not_matches("the block goes on", out)
        session.close()
      end)
    end
  end)

  for _, doc in ipairs(docs) do
    describe(doc.path, function()
      local lua_results, nginx_results, session

      local function check_lua(block)
        local run_set
        if block.nginx then
          nginx_results = nginx_results or run_lua(ctx, doc.blocks, true)
          run_set = nginx_results
        else
          lua_results = lua_results or run_lua(ctx, doc.blocks, false)
          run_set = lua_results
        end
        local result = run_set.results[run_set.index[block]]
        assert(result.ok, where(block) .. " failed: " .. tostring(result.error) .. "\n-- output of the doc's snippets:\n"
          .. run_set.out)
      end

      local function check_shell(block, last)
        if not session then
          emu:control("reset", {}) -- a fresh emulator per doc; its blocks build on each other's data
          session = shell_session(checkout, env)
        end
        if block.shape then
          write(session.dir .. "/shape.sh", block.code)
          local out, code = run("bash -n " .. quote(session.dir .. "/shape.sh") .. " 2>&1")
          assert(code == 0, where(block) .. " is not valid shell: " .. out)
        else
          local code, out = session.run(block)
          local left = last and stop_servers(checkout, true) or {}
          assert(code == 0, where(block) .. " failed (exit " .. code .. (code == 124 and ", timed out" or "") .. "):\n" .. out)
          assert(#left == 0, where(block) .. ": the doc leaves a server running (" .. table.concat(left, ", ")
            .. "): say how to stop it")
        end
        if last then session.close() end
      end

      local function check_nginx(block)
        local dir = work .. "/nginx-t"
        run("rm -rf " .. quote(dir) .. " && mkdir -p " .. quote(dir))
        write(dir .. "/nginx.conf", table.concat({
          "load_module /usr/lib/nginx/modules/ndk_http_module.so;",
          "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;",
          "pid " .. dir .. "/nginx.pid;", "error_log " .. dir .. "/error.log;",
          "events {}", "http {", block.code, "}" }, "\n"))
        local out, code = run("nginx -t -p " .. quote(dir) .. " -c nginx.conf -e " .. quote(dir .. "/error.log") .. " 2>&1")
        assert(code == 0, where(block) .. " is not a valid nginx http block: " .. out)
      end

      local last_shell
      for _, block in ipairs(doc.blocks) do
        if block.kind == "sh" and not block.problem then last_shell = block end
      end

      if ONCE and #doc.mentions > 0 then
        it("names only make targets that exist (make -n)", function()
          for _, mention in ipairs(doc.mentions) do
            local out, code = run("cd " .. quote(checkout) .. " && " .. mention.command:gsub("^make", "make -n") .. " 2>&1")
            assert(code == 0, doc.path .. ":" .. mention.line .. ": `" .. mention.command .. "` fails: " .. out)
          end
        end)
      end

      for _, block in ipairs(doc.blocks) do
        local kind = block.kind or "unlabelled"
        local what = block.shape and "shape" or (block.nginx and "nginx" or "run")
        if block.problem then
          it("line " .. block.line .. " (" .. kind .. ")", function() error(where(block) .. ": " .. block.problem, 0) end)
        elseif kind == "lua" and (ONCE or not block.nginx) then
          it("line " .. block.line .. " (lua, " .. what .. ")", function() check_lua(block) end)
        elseif kind == "sh" and ONCE then
          it("line " .. block.line .. " (sh, " .. what .. ")", function() check_shell(block, block == last_shell) end)
        elseif kind == "nginx" and ONCE then
          it("line " .. block.line .. " (nginx -t)", function() check_nginx(block) end)
        end
      end
    end)
  end
end)
