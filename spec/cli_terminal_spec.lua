-- The `falcon` command on a real terminal (tmux, a private server): the --all progress line draws
-- on stderr while pages arrive, never on a line with data, and is erased at the end; JSON is indented
-- for a reader; tables fit the terminal; `falcon configure` does not echo the secret, and Ctrl-C there
-- or in a download stops it with the terminal as it was. Screen captures are what a user would see.
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

  local function environment()
    return table.concat({
      "env -i PATH=" .. quote(tree .. "/bin:" .. os.getenv("PATH")), "HOME=" .. quote(tmp), "TERM=xterm",
      "XDG_CONFIG_HOME=" .. quote(tmp .. "/config"),
      "FALCON_CLIENT_ID=" .. quote(e.client_id), "FALCON_CLIENT_SECRET=" .. quote(e.client_secret),
      "FALCON_BASE_URL=" .. quote(e.url),
    }, " ")
  end

  -- A session running `words` (a shell command line after `falcon`; then a marker line with the exit
  -- status) in an 100x30 terminal.
  local function session(name, words)
    local script = "falcon " .. words .. "; echo \"exit=$?\"; sleep 120"
    tmux("-f /dev/null new-session -d -s " .. name .. " -x 100 -y 30 " .. quote(environment() .. " bash -c "
      .. quote(script)))
  end

  local function screen(name) return tmux("capture-pane -p -t " .. name) end

  -- The screen with its scrollback, wrapped lines joined (-J): what the user saw, line by line.
  local function full_screen(name) return tmux("capture-pane -p -J -S - -t " .. name) end

  local function lines_of(text)
    local out = {}
    for line in (text:gsub("%s+$", "") .. "\n"):gmatch("(.-)\n") do out[#out + 1] = line end
    return out
  end

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
  -- Every line of a screen is one thing: data (an id), a progress line, the exit marker or nothing.
  local function assert_apart(text)
    for _, line in ipairs(lines_of(text)) do
      local data = line:find('"%x+"') ~= nil
      local bar = line:find("items", 1, true) ~= nil or line:find("[#", 1, true) ~= nil
        or line:find("[-", 1, true) ~= nil
      assert.is_false(data and bar, "a line holds both data and the progress line: " .. line .. "\n" .. text)
      assert.is_true(line == "" or line:find('^"%x+"$') ~= nil or line:find("^exit=%d+$") ~= nil
        or line:find("^%[[#%-]+%]%s+%d+%%") ~= nil or line:find("^falcon: %[[#%-]+%]") ~= nil, "stray line: " .. line)
    end
  end

  it("never puts the progress line on a line with data when both share the terminal", function()
    e:control("delays", { route = "/message-center/queries/cases/v1", delay = 0.4 })
    session("shared", "message-center query-cases --all --limit 2")
    local bar_seen, text = false, nil
    for _ = 1, 300 do
      text = full_screen("shared")
      assert_apart(text)
      if text:find("%[#*%-*%]%s+%d+%%") then bar_seen = true end
      if text:find("exit=", 1, true) then break end
      sleep(0.05)
    end
    e:control("delays", { clear = true })
    assert.is_true(bar_seen, "no progress line on screen:\n" .. text)
    local ids = 0
    for _, line in ipairs(lines_of(text)) do if line:find('^"%x+"$') then ids = ids + 1 end end
    assert.equals(24, ids, text)
    assert.matches("\nexit=0$", text:gsub("%s+$", ""))
  end)

  it("reports progress in whole lines when stdout is a pipe whose reader prints on the same terminal", function()
    -- 12 pages answered after 0.6 s each: a whole progress line after 5 s, between data lines
    e:control("delays", { route = "/message-center/queries/cases/v1", delay = 0.6 })
    session("piped", "message-center query-cases --all --limit 2 | cat")
    local text, done = wait_for("piped", function(s) return s:find("exit=", 1, true) ~= nil end)
    e:control("delays", { clear = true })
    assert.is_true(done, text)
    text = full_screen("piped")
    assert_apart(text)
    assert.matches("\nfalcon: %[[#%-]+%]%s+%d+%% %d+/24 items", text)
    assert.matches("\nexit=0$", text:gsub("%s+$", ""))
  end)

  it("fits --format table to the terminal's width, and takes its columns from --fields", function()
    local cases = e:all_cases(e:token())
    session("wide", "message-center get-cases " .. cases[1].id .. " " .. cases[2].id .. " --output table")
    local text, done = wait_for("wide", function(s) return s:find("exit=", 1, true) ~= nil end)
    assert.is_true(done, text)
    text = full_screen("wide")
    for _, line in ipairs(lines_of(text)) do assert.is_true(#line <= 100, #line .. " columns: " .. line) end
    assert.matches("^ID%s+", text)
    assert.matches("\nfalcon: %d+ columns left out to fit the terminal; %-%-fields picks them\nexit=0", text)
    session("fields", "message-center get-cases " .. cases[1].id .. " --output table --fields id,title,status")
    text, done = wait_for("fields", function(s) return s:find("exit=", 1, true) ~= nil end)
    assert.is_true(done, text)
    assert.matches("^ID%s+TITLE%s+STATUS\n" .. cases[1].id .. "%s+", text)
  end)

  -- An interactive bash in a terminal, and a line typed into it.
  local function shell_session(name)
    tmux("-f /dev/null new-session -d -s " .. name .. " -x 100 -y 30 "
      .. quote(environment() .. " PS1='$ ' bash --norc --noprofile"))
  end
  local function type_line(name, text)
    tmux("send-keys -t " .. name .. " -l " .. quote(text))
    tmux("send-keys -t " .. name .. " Enter")
  end

  it("stops at Ctrl-C at the secret prompt: echo back on, the next line typed goes to the shell", function()
    shell_session("prompt")
    type_line("prompt", "falcon configure --profile ctrlc")
    local text, ok = wait_for("prompt", function(s) return s:find("client_id:", 1, true) ~= nil end)
    assert.is_true(ok, text)
    type_line("prompt", "typed-id")
    text, ok = wait_for("prompt", function(s) return s:find("client_secret (not echoed):", 1, true) ~= nil end)
    assert.is_true(ok, text)
    tmux("send-keys -t prompt C-c")
    text, ok = wait_for("prompt", function(s) return s:find("falcon: interrupted\n\n?%$") ~= nil end)
    assert.is_true(ok, text)
    -- the next line is the shell's, echoed as typed: it shows the status Ctrl-C left, and the echo flag
    type_line("prompt", "echo exit=$?; stty -a | grep -o -- ' -*echo ' | head -1")
    text, ok = wait_for("prompt", function(s) return s:find("\nexit=%d+\n%s*%-*echo") ~= nil end)
    assert.is_true(ok, text)
    -- (bash adds an empty line after a command that a SIGINT ended, as it ended here)
    assert.matches("client_secret %(not echoed%):%s*\nfalcon: interrupted\n\n?%$ echo exit=%$%?; stty", text)
    assert.matches("\nexit=130\n echo\n", text)
    assert.is_nil(read(tmp .. "/config/falcon/credentials.new"))
    assert.is_nil((read(tmp .. "/config/falcon/credentials") or ""):find("ctrlc", 1, true))
  end)

  it("stops a download at Ctrl-C on the terminal: exit 130, no file left", function()
    local cases = e:all_cases(e:token())
    local attachment = e:http { method = "POST", path = "/message-center/entities/case-attachment/v1", token = e:token(),
      form = { { name = "case_id", value = cases[1].id }, { name = "user_uuid", value = "analyst" },
               { name = "file", path = "/etc/hostname", filename = "host.txt" } } }
    local id = attachment.json.resources[1].id
    e:control("faults", { route = "/message-center/entities/case-attachment/v1", method = "GET", delay = 8 })
    local target = tmp .. "/download/host.txt"
    assert(os.execute("mkdir -p " .. quote(tmp .. "/download")))
    shell_session("download")
    type_line("download", "falcon message-center download-case-attachment " .. id .. " --output-file " .. quote(target))
    sleep(1.5)
    tmux("send-keys -t download C-c")
    local text, done = wait_for("download", function(s) return s:find("falcon: interrupted\n\n?%$") ~= nil end)
    assert.is_true(done, text)
    type_line("download", "echo exit=$?")
    text, done = wait_for("download", function(s) return s:find("\nexit=%d+\n") ~= nil end)
    e:control("faults", { clear = true })
    assert.is_true(done, text)
    assert.matches("\n^C\nfalcon: interrupted\n\n?%$ echo exit=%$%?\nexit=130\n", text)
    assert.equals("", emulator.run("ls -A " .. quote(tmp .. "/download")))
  end)
end)
