-- Issue 13: save_to writes only what a complete 2xx sent, through a temporary file of its own created
-- exclusively beside the target (never through a planted link, never shared by two downloads), renamed
-- into place at the end; nothing is left behind otherwise. Blocking and multi drivers.
local core = require "falcon.core"
local emulator = require "spec.helpers.emulator"
local hostile = require "spec.helpers.hostile"

local run, quote, read_file = emulator.run, emulator.quote, emulator.read_file

local function response(fill, n)
  return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " .. n .. "\r\n\r\n"
    .. fill:rep(n)
end

local function listing(dir)
  local names = {}
  for name in run("ls -A " .. quote(dir)):gmatch("[^\n]+") do names[#names + 1] = name end
  table.sort(names)
  return names
end

describe("save_to", function()
  local dir, server
  before_each(function()
    dir = run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-save.XXXXXX\""):gsub("%s+$", "")
  end)
  after_each(function()
    if server then server:stop() end
    server = nil
    run("rm -rf " .. quote(dir))
  end)

  local function client() return core.client { base_url = server.url, access_token = "t" } end

  it("never follows a link planted where the old '.part' name was, nor at the target", function()
    server = hostile.start { "json {\"fresh\":true}", "json {\"fresh\":true}" }
    local victim = dir .. "/victim"
    local f = assert(io.open(victim, "wb")); f:write("precious"); f:close()
    run("ln -s " .. quote(victim) .. " " .. quote(dir .. "/out.part"))
    local status = client():perform("api", { method = "GET", route = "/a", save_to = dir .. "/out" })
    assert.equals(200, status)
    assert.equals('{"fresh":true}', read_file(dir .. "/out"))
    run("ln -sf " .. quote(victim) .. " " .. quote(dir .. "/linked"))
    assert.equals(200, (client():perform("api", { method = "GET", route = "/b", save_to = dir .. "/linked" })))
    assert.equals("precious", read_file(victim))
    assert.equals('{"fresh":true}', read_file(dir .. "/linked"))
    assert.same({ "linked", "out", "out.part", "victim" }, listing(dir))
  end)

  it("keeps two downloads to one path apart: the file is one of them, whole", function()
    server = hostile.start { "bytes a", "bytes b" }
    local size = 2 * 1024 * 1024
    server:file("a", response("a", size))
    server:file("b", response("b", size))
    local c, multi = client(), core.multi(2)
    local target = dir .. "/same"
    for i = 1, 2 do assert(multi:add(c, "api", { method = "GET", route = "/" .. i, save_to = target })) end
    local left = 2
    while left > 0 do
      for _, t in ipairs(multi:perform(0.5)) do
        assert.equals(200, (t:result()))
        left = left - 1
      end
    end
    multi:close()
    local got = read_file(target)
    assert.equals(size, #got)
    assert.truthy(got == ("a"):rep(size) or got == ("b"):rep(size), "the two bodies were mixed")
    assert.same({ "same" }, listing(dir))
  end)

  it("saves to a 255-byte file name", function()
    server = hostile.start { "json {\"long\":1}" }
    local name = ("n"):rep(255)
    assert.equals(200, (client():perform("api", { method = "GET", route = "/a", save_to = dir .. "/" .. name })))
    assert.equals('{"long":1}', read_file(dir .. "/" .. name))
  end)

  it("leaves nothing behind for an error answer, a cut body or a truncated compressed body", function()
    server = hostile.start { "status 404", "gzip-truncated", "slow-body 20" }
    local c = core.client { base_url = server.url, access_token = "t", timeout = 0.3 }
    assert.equals(404, (c:perform("api", { method = "GET", route = "/a", save_to = dir .. "/x" })))
    local status, err = c:perform("api", { method = "GET", route = "/b", save_to = dir .. "/x" })
    assert.is_nil(status)
    assert.matches("truncated", err.message)
    status, err = c:perform("api", { method = "GET", route = "/c", save_to = dir .. "/x" })
    assert.is_nil(status)
    assert.equals("timeout", err.kind)
    assert.same({}, listing(dir))
  end)

  it("gives the file the mode a plain open would (0666 less the umask)", function()
    server = hostile.start { "json {}" }
    assert.equals(200, (client():perform("api", { method = "GET", route = "/a", save_to = dir .. "/m" })))
    local mode = run("stat -c %a " .. quote(dir .. "/m")):gsub("%s+$", "")
    local umask = run("sh -c umask"):gsub("%s+$", ""):sub(-3)
    local expected = umask:gsub("%d", function(d) d = tonumber(d); return tostring(6 - (d - d % 2)) end)
    assert.equals(expected:gsub("^0+", ""), mode)
  end)
end)
