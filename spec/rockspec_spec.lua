-- The rockspec lists every module, and `luarocks make` builds and installs it offline.
local function run(command)
  local pipe = assert(io.popen(command .. " 2>&1; echo \"exit=$?\""))
  local out = pipe:read("*a")
  pipe:close()
  return out, tonumber(out:match("exit=(%d+)%s*$"))
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

describe("falconlua-scm-1.rockspec", function()
  it("is what tools/gen_rockspec.lua makes of the tree (no module forgotten)", function()
    local fresh = os.tmpname()
    local out, code = run("lua5.4 tools/gen_rockspec.lua " .. fresh)
    assert.equals(0, code, out)
    assert.equals(read(fresh), read("falconlua-scm-1.rockspec"))
    os.remove(fresh)
  end)

  it("builds and installs with `luarocks make`, offline, and the installed SDK loads", function()
    local luajit = os.getenv("FALCON_TEST_VM") == "luajit"
    local version, vm = luajit and "5.1" or "5.4", luajit and "luajit" or "lua5.4"
    local tree, work = os.tmpname(), os.tmpname()
    os.remove(tree)
    os.remove(work)
    -- Built from a copy: luarocks compiles in the source directory and would leave objects in the checkout.
    local out, code = run(("mkdir -p %s && cp -r csrc lua falconlua-scm-1.rockspec %s && cd %s && "
      .. "luarocks --lua-version %s --tree %s make falconlua-scm-1.rockspec"):format(work, work, work, version, tree))
    run("rm -rf " .. work)
    assert.equals(0, code, out)
    local check = ([[LUA_PATH='%s/share/lua/%s/?.lua;%s/share/lua/%s/?/init.lua;;' LUA_CPATH='%s/lib/lua/%s/?.so;;' ]]
      .. [[%s -e 'local f = require "falcon"; local c = require "falcon.core"; ]]
      .. [[assert(package.searchpath("falcon.core", package.cpath):find("%s", 1, true)); ]]
      .. [[print(f.version, c.encode_query{{"a", "b c"}}, type(f.MessageCenter), type(f.parallel))']])
      :format(tree, version, tree, version, tree, version, vm, tree)
    out, code = run(check)
    assert.equals(0, code, out)
    assert.matches("0%.1%.0\ta=b%+c\ttable\tfunction", out)
    run("rm -rf " .. tree)
  end)
end)
