-- The call path's layers (issue 25): one call layer (falcon.call) beneath the service classes and the
-- Uber class. The classes do not load each other, paging and batching know nothing of the classes above
-- them, the builder nothing of the layer that calls it, and the modules of the call path load what they
-- use when they are loaded: a require inside a function is a deliberate lazy load of an optional module,
-- listed here with its reason.
local vm = require "spec.helpers.vm"

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The falcon modules a fresh interpreter of this VM has loaded once `module` is.
local function loaded_by(module)
  local code = ("require %q; local names = {} for name in pairs(package.loaded) do "
    .. "if name:find('^falcon') then names[#names + 1] = name end end; table.sort(names); "
    .. "io.write('loaded: ', table.concat(names, ' '))"):format(module)
  local cmd = ("LUA_PATH=%s LUA_CPATH=%s %s -e %s 2>&1"):format(shell_quote(package.path),
    shell_quote(package.cpath), vm, shell_quote(code))
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  assert.truthy(out:find("^loaded: "), out)
  local set = {}
  for name in out:gmatch("%S+") do set[name] = true end
  return set, out
end

local function assert_not_loaded(set, out, modules, why)
  for _, name in ipairs(modules) do assert.is_nil(set[name], name .. " loaded " .. why .. ": " .. out) end
end

describe("the call path's layers", function()
  it("the Uber class and the service classes go through the call layer and do not load each other", function()
    local set, out = loaded_by("falcon.classes.uber")
    assert.is_true(set["falcon.call"], out)
    assert_not_loaded(set, out, { "falcon.classes.service" }, "by the Uber class")
    set, out = loaded_by("falcon.classes.service")
    assert.is_true(set["falcon.call"], out)
    assert_not_loaded(set, out, { "falcon.classes.uber" }, "by the service classes")
  end)

  it("paging knows the call layer only, batching and the builder nothing above them", function()
    local set, out = loaded_by("falcon.call.paginate")
    assert.is_true(set["falcon.call"], out)
    assert_not_loaded(set, out, { "falcon.classes.service", "falcon.classes.uber", "falcon.call.object",
                                  "falcon.call.forms" }, "by paging")
    set, out = loaded_by("falcon.call.batch")
    assert_not_loaded(set, out, { "falcon.call", "falcon.classes.service", "falcon.classes.uber", "falcon.payload" },
      "by batching")
    set, out = loaded_by("falcon.payload")
    assert_not_loaded(set, out, { "falcon.call", "falcon.classes.service", "falcon.classes.uber", "falcon.call.forms",
                                  "falcon.call.batch" },
      "by the builder")
  end)

  it("the modules of the call path require what they use when they load, but for listed lazy loads", function()
    local lazy = {} -- file -> module -> why it is loaded inside a function (none now: spec/layout_spec.lua)
    local files = { "call/init", "classes/service", "classes/uber", "call/object", "call/forms", "call/paginate",
                    "call/batch", "payload/init", "payload/query", "payload/body", "payload/upload", "payload/check",
                    "client/init", "drivers/init", "base/policy", "base/result", "base/errors", "base/untrusted",
                    "json", "base/util" }
    for _, name in ipairs(files) do
      local path = "lua/falcon/" .. name .. ".lua"
      local n = 0
      for line in io.lines(path) do
        n = n + 1
        local code = line:gsub("%-%-.*$", "")
        local module = code:match("require%s*%(?%s*[\"']([%w%._]+)[\"']")
        if module and code:find("^%s") then -- indented: inside a function (or a table of lazy loaders)
          local why = (lazy[path] or {})[module]
          assert.truthy(why, ("%s:%d requires %s inside a function: %s"):format(path, n, module, line))
        end
      end
    end
  end)
end)
