-- Test helper: falconlua installed with `luarocks make` into a private tree, as a user would get it
-- (the modules, the C core and the `falcon` command). Built once per spec/run and VM: the tree is
-- kept under the run's own TMPDIR (removed by spec/run), so rockspec_spec and cli_spec share it.
local M = {}

local function run(command)
  local pipe = assert(io.popen(command .. " 2>&1; echo \"exit=$?\""))
  local out = pipe:read("*a")
  pipe:close()
  return out, tonumber(out:match("exit=(%d+)%s*$"))
end
M.run = run

--- The Lua version and interpreter of this busted run.
function M.vm()
  local vm = require "spec.helpers.vm"
  if vm == "luajit" then return "5.1", "luajit" end
  return vm:match("%d%.%d"), vm
end

--- Installs (once per run) and returns the tree, or raises with luarocks' output.
function M.install()
  local version, vm = M.vm()
  local tmp = os.getenv("TMPDIR") or "/tmp"
  local shared = tmp:find("falconlua%-run%.") ~= nil
  local tree = shared and (tmp .. "/rock-" .. vm) or os.tmpname()
  if shared then
    local f = io.open(tree .. "/bin/falcon", "r")
    if f then f:close(); return tree end
  end
  os.remove(tree)
  local work = os.tmpname()
  os.remove(work)
  -- Built from a copy: luarocks compiles in the source directory and would leave objects in the checkout.
  local out, code = run(("mkdir -p %s && cp -r csrc lua bin emulator falconlua-scm-1.rockspec %s")
    :format(work, work))
  if code == 0 then
    -- For LuaJIT, luarocks is told which interpreter (and headers) Lua 5.1 means here, so that the
    -- command's wrapper runs luajit even where a lua5.1 binary is installed too.
    local config = ""
    if vm == "luajit" then
      local f = assert(io.open(work .. "/luarocks-luajit.lua", "w"))
      f:write('lua_interpreter = "luajit"\n',
        'variables = { LUA_DIR = "/usr", LUA_BINDIR = "/usr/bin", LUA_INCDIR = "/usr/include/luajit-2.1" }\n')
      f:close()
      config = "LUAROCKS_CONFIG=" .. work .. "/luarocks-luajit.lua "
    end
    out, code = run(("cd %s && %sluarocks --lua-version %s --tree %s make falconlua-scm-1.rockspec")
      :format(work, config, version, tree))
  end
  run("rm -rf " .. work)
  if code ~= 0 then error("luarocks make failed:\n" .. out, 2) end
  return tree, not shared
end

--- The shell prefix that gives the installed tree's modules to `vm` (for scripts run directly).
function M.paths(tree)
  local version = M.vm()
  return ([[LUA_PATH='%s/share/lua/%s/?.lua;%s/share/lua/%s/?/init.lua;;' LUA_CPATH='%s/lib/lua/%s/?.so;;' ]])
    :format(tree, version, tree, version, tree, version)
end

return M
