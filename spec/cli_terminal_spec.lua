-- The `falcon` command on a real terminal (tmux, a private server): the --all progress line draws
-- on stderr while pages arrive and is erased at the end, JSON is indented for a reader, and
-- `falcon configure` does not echo the secret. Screen captures are what a user would see.
local emulator = require "spec.helpers.emulator"
local rock = require "spec.helpers.rock"

local quote, read = emulator.quote, emulator.read_file

local function sleep(seconds) require("falcon.core").sleep(seconds) end

describe("the falcon command on a terminal (tmux)", function()
  local e, tree, private, tmp, socket

  setup(function()
    tree, private = rock.install()
    e = emulator.start { seed = { cases = 24 } }
    tmp = e.dir .. "/tty"
    assert(os.execute("mkdir -p " .. quote(tmp)))
    socket = tmp .. "/tmux.sock"
  end)

  teardown(function()
    if socket then emulator.run("tmux -S " .. quote(socket) .. " kill-server >/dev/null 2>&1") end
    if e then e:stop() end
    if private and tree then os.execute("rm -rf " .. quote(tree)) end
  end)

  local function tmux(args)
    local out, code = emulator.run("tmux -S " .. quote(socket) .. " " .. args .. " 2>&1")
    assert.equals(0, code, out)
    return out
  end

  -- A session running `words` (then a marker line with the exit status) in an 100x30 terminal.
  local function session(name, words)
    local env = table.concat({
      "env -i PATH=" .. quote(os.getenv("PATH")), "HOME=" .. quote(tmp), "TERM=xterm",
      "XDG_CONFIG_HOME=" .. quote(tmp .. "/config"), "COLUMNS=100",
      "FALCON_CLIENT_ID=" .. quote(e.client_id), "FALCON_CLIENT_SECRET=" .. quote(e.client_secret),
      "FALCON_BASE_URL=" .. quote(e.url),
    }, " ")
    local script = env .. " " .. quote(tree .. "/bin/falcon") .. " " .. words .. "; echo \"exit=$?\"; sleep 120"
    tmux("-f /dev/null new-session -d -s " .. name .. " -x 100 -y 30 " .. quote(script))
  end

  local function screen(name) return tmux("capture-pane -p -t " .. name) end

  -- Captures until `test(screen)` holds (or ~20 s pass); returns the last capture and whether it held.
  local function wait_for(name, test)
    local text
    for _ = 1, 200 do
      text = screen(name)
      if test(text) then return text, true end
      sleep(0.1)
    end
    return text, false
  end

  it("draws the progress line while --all pages and erases it at the end; stdout holds only data", function()
    -- 12 pages of 2, each answered after 0.4 s: the line is on screen for about five seconds
    e:control("delays", { route = "/message-center/queries/cases/v1", delay = 0.4 })
    local out = tmp .. "/all.ndjson"
    session("paging", "message-center query-cases --all --limit 2 > " .. quote(out))
    local drawn, seen = wait_for("paging", function(s) return s:find("%[#+%-*%]%s+%d+%%") ~= nil end)
    assert.is_true(seen, "no progress line on screen:\n" .. drawn)
    assert.matches("%d+/24 items, %d+ pages, %d+/s, ETA %d+:%d%d", drawn)
    local final, done = wait_for("paging", function(s) return s:find("exit=0", 1, true) ~= nil end)
    assert.is_true(done, "did not finish:\n" .. final)
    -- erased: the marker line is the first line of the screen, nothing of the bar is left
    assert.is_nil(final:find("items", 1, true), final)
    assert.is_nil(final:find("[#", 1, true), final)
    assert.matches("^exit=0\n", final)
    local lines = {}
    for line in read(out):gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equals(24, #lines)
    for _, line in ipairs(lines) do assert.matches('^"%x+"$', line) end
    e:control("delays", { clear = true })
  end)

  it("indents JSON with sorted keys on a terminal", function()
    session("pretty", "message-center query-cases --limit 2")
    local text, done = wait_for("pretty", function(s) return s:find("exit=0", 1, true) ~= nil end)
    assert.is_true(done, text)
    -- (an empty `errors` list may read back as {}: Debian's lua-cjson cannot tell them apart)
    assert.matches('^{\n  "errors": [%[{][%]}],?\n  "meta": {\n    "pagination": {\n      "limit": 2,\n', text)
    assert.matches('\n  "resources": %[\n    "%x+",\n    "%x+"\n  %]\n}\nexit=0', text)
  end)

  it("completes collections, operations and parameters in an interactive zsh", function()
    local shell = "env -i PATH=" .. quote(tree .. "/bin:" .. os.getenv("PATH")) .. " HOME=" .. quote(tmp)
      .. " TERM=xterm zsh -f"
    tmux("-f /dev/null new-session -d -s zsh -x 120 -y 20 " .. quote(shell))
    local function type_keys(text, tab)
      tmux("send-keys -t zsh -l -- " .. quote(text))
      if tab then tmux("send-keys -t zsh Tab") end
    end
    type_keys("PS1='zsh> '; autoload -U compinit && compinit -u && source <(falcon completion zsh) && echo ready")
    tmux("send-keys -t zsh Enter")
    local text, ok = wait_for("zsh", function(s) return s:find("\nready", 1, true) ~= nil end)
    assert.is_true(ok, text)
    type_keys("falcon message-ce", true)
    text, ok = wait_for("zsh", function(s) return s:find("zsh> falcon message-center\n", 1, true) ~= nil end)
    assert.is_true(ok, text)
    type_keys("query-ac", true)
    text, ok = wait_for("zsh", function(s) return s:find("message-center query-activities\n", 1, true) ~= nil end)
    assert.is_true(ok, text)
    type_keys("--ca", true)
    text, ok = wait_for("zsh", function(s) return s:find("query-activities --case-id", 1, true) ~= nil end)
    assert.is_true(ok, text)
  end)

  it("reads the secret in `falcon configure` without echo, and writes the profile with mode 0600", function()
    session("configure", "configure --profile tty")
    local function answer(prompt, text)
      local shown, ok = wait_for("configure", function(s) return s:find(prompt, 1, true) ~= nil end)
      assert.is_true(ok, shown)
      tmux("send-keys -t configure -l " .. quote(text))
      tmux("send-keys -t configure Enter")
    end
    answer("client_id:", e.client_id)
    answer("client_secret (not echoed):", e.client_secret)
    answer("base_url", e.url)
    answer("member_cid", "")
    local text, done = wait_for("configure", function(s) return s:find("exit=0", 1, true) ~= nil end)
    assert.is_true(done, text)
    assert.truthy(text:find(e.client_id, 1, true))
    assert.is_nil(text:find(e.client_secret, 1, true))
    local path = tmp .. "/config/falcon/credentials"
    assert.truthy((read(path) or ""):find("client_secret = " .. e.client_secret, 1, true))
    local mode = emulator.run("stat -c %a " .. quote(path))
    assert.equals("600", (mode:gsub("%s+$", "")))
  end)
end)
