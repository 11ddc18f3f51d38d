-- The rockspec lists every module, and `luarocks make` builds and installs it offline.
local run = require("spec.helpers.rock").run
local read = require("spec.helpers.emulator").read_file

describe("falconlua-scm-1.rockspec", function()
  it("is what tools/gen_rockspec.lua makes of the tree (no module forgotten)", function()
    local fresh = os.tmpname()
    local out, code = run("lua5.4 tools/gen_rockspec.lua " .. fresh)
    assert.equals(0, code, out)
    assert.equals(read(fresh), read("falconlua-scm-1.rockspec"))
    os.remove(fresh)
  end)

  it("builds and installs with `luarocks make`, offline, and the installed SDK loads", function()
    local rock = require "spec.helpers.rock"
    local _, vm = rock.vm()
    local tree, private = rock.install()
    local check = (rock.paths(tree)
      .. [[%s -e 'local f = require "falcon"; local c = require "falcon.core"; ]]
      -- (package.searchpath is Lua 5.2+; on 5.1 the tree's cpath entry comes first anyway)
      .. [[assert(not package.searchpath or package.searchpath("falcon.core", package.cpath):find("%s", 1, true)); ]]
      .. [[print(f.version, c.encode_query{{"a", "b c"}}, type(f.MessageCenter), type(f.parallel))']])
      :format(vm, tree)
    local out, code = run(check)
    assert.equals(0, code, out)
    assert.matches("0%.1%.0\ta=b%+c\ttable\tfunction", out)
    -- the command is installed with the rock, wrapped for this Lua
    out, code = run(tree .. "/bin/falcon version")
    assert.equals(0, code, out)
    assert.matches("^0%.1%.0", out)
    if private then run("rm -rf " .. tree) end
  end)
end)
