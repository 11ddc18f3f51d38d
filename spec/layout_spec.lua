-- The layout of lua/falcon (issue 25): modules live in folders that name their part of the architecture
-- (README, "Folders"), the top holds only `require "falcon"`, falcon.json and the public names README and
-- the examples show (one-line forwards to the real module), and every module requires what it uses when
-- it loads: a require inside a function is a lazy load listed below with its reason.

-- The files directly in lua/falcon/: the package, JSON, and the public names kept as forwards.
local TOP = { ["init.lua"] = true, ["json.lua"] = true }
local FORWARDS = {
  ["cosocket.lua"] = "falcon.drivers.cosocket",
  ["event_stream_nginx.lua"] = "falcon.streams.nginx",
  ["case_watch_nginx.lua"] = "falcon.watch.nginx",
  ["case_watch_store.lua"] = "falcon.watch.store",
  ["lease.lua"] = "falcon.fleet.lease",
}

-- file -> module (or "*": any) -> why it is required inside a function.
local LAZY = {
  ["lua/falcon/init.lua"] = { ["*"] = "the public names, each loaded on first use" },
  ["lua/falcon/endpoints/init.lua"] = { ["falcon.endpoints."] = "an operation table loads when its collection is used" },
  ["lua/falcon/cli/init.lua"] = {
    ["falcon.call"] = "`falcon --help` starts without the call path",
    ["falcon.call.paginate"] = "`falcon --help` starts without the call path",
    ["falcon.call.batch"] = "`falcon --help` starts without the call path",
    ["falcon.payload"] = "`falcon --help` starts without the call path",
    ["falcon.classes.uber"] = "`falcon --help` starts without the call path",
    ["falcon.cli.emulator"] = "loaded by its command only",
    ["falcon.cli.watch"] = "loaded by its command only (and it requires falcon.cli)",
    ["falcon.cli.complete"] = "loaded by its command only (and it requires falcon.cli)",
  },
  ["lua/falcon/cli/help.lua"] = { ["falcon.cli.descriptions"] = "large generated text, for the first help text" },
  ["lua/falcon/cli/complete.lua"] = { ["falcon.cli"] = "a cycle: falcon.cli requires this module" },
  ["lua/falcon/cli/watch.lua"] = { ["falcon.cli"] = "a cycle: falcon.cli requires this module" },
  ["lua/falcon/watch/case_watch.lua"] = { ["falcon.classes.service"] = "a cycle: the service classes require "
                                          .. "this module (mc:watch)" },
}

local function lines_of(command)
  local out = {}
  local p = assert(io.popen(command))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

-- The falcon modules `src` requires, each with its line and whether the require is inside a function body.
-- A small scanner: comments and strings are skipped, blocks are counted (function/if/do/repeat ... end/until).
local function requires_of(src)
  local found, stack, i, line, n = {}, {}, 1, 1, #src
  local function in_function()
    for _, kind in ipairs(stack) do if kind == "function" then return true end end
    return false
  end
  local function skip_long(at) -- a long bracket [==[ ... ]==] at `at`: the position after it, or nil
    local eq = src:match("^%[(=*)%[", at)
    if not eq then return nil end
    local close = "]" .. eq .. "]"
    local stop = src:find(close, at, true) or n
    local _, newlines = src:sub(at, stop):gsub("\n", "")
    line = line + newlines
    return stop + #close
  end
  while i <= n do
    local c = src:sub(i, i)
    if c == "\n" then
      line, i = line + 1, i + 1
    elseif src:sub(i, i + 1) == "--" then
      i = skip_long(i + 2) or (src:find("\n", i, true) or n + 1)
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n and src:sub(j, j) ~= c do
        if src:sub(j, j) == "\\" then j = j + 1 end
        j = j + 1
      end
      i = j + 1
    elseif c == "[" and src:match("^%[=*%[", i) then
      i = skip_long(i)
    elseif c:match("[%a_]") then
      local word = src:match("^[%w_]+", i)
      local before = src:sub(i - 1, i - 1)
      if before ~= "." and before ~= ":" then
        if word == "function" or word == "if" or word == "do" or word == "repeat" then
          stack[#stack + 1] = word
        elseif word == "end" or word == "until" then
          stack[#stack] = nil
        elseif word == "require" then
          local module = src:match("^[%s(,]*[\"']([%w_.]+)[\"']", i + #word)
          if module and module:find("^falcon") then
            found[#found + 1] = { module = module, line = line, lazy = in_function() }
          end
        end
      end
      i = i + #word
    elseif c:match("%d") then
      i = i + #src:match("^[%w_.]+", i)
    else
      i = i + 1
    end
  end
  return found
end

describe("lua/falcon's layout", function()
  it("the scanner finds a require inside a function, and not one at the top or in a comment or a string", function()
    local found = requires_of(table.concat({
      'local a = require "falcon.base.errors"',
      '-- require "falcon.x" in a comment; [[ require "falcon.y" ]]',
      'local s = "require \'falcon.z\'"',
      'if a then local b = require("falcon.call") end',
      'local function f()',
      '  for i = 1, 2 do end',
      '  return require("falcon.client"), pcall(require, "falcon.cli.help")',
      'end',
      'local c = require "falcon.payload"',
    }, "\n"))
    local got = {}
    for _, r in ipairs(found) do got[#got + 1] = ("%s:%d:%s"):format(r.module, r.line, tostring(r.lazy)) end
    assert.same({ "falcon.base.errors:1:false", "falcon.call:4:false", "falcon.client:7:true",
                  "falcon.cli.help:7:true", "falcon.payload:9:false" }, got)
  end)

  it("requires a falcon module inside a function only where a listed lazy load needs it", function()
    local files = lines_of("find lua/falcon -name '*.lua' -not -path 'lua/falcon/endpoints/*' "
      .. "-not -name descriptions.lua; echo lua/falcon/endpoints/init.lua")
    assert.truthy(#files > 40, "no files found: is the suite run from the repository root?")
    local seen = {}
    for _, path in ipairs(files) do
      for _, r in ipairs(requires_of(read(path))) do
        if r.lazy then
          local allowed = LAZY[path] or {}
          local why = allowed["*"] or allowed[r.module]
          assert.truthy(why, ("%s:%d requires %s inside a function: require it at the top of the file, or list "
            .. "the lazy load and its reason in spec/layout_spec.lua"):format(path, r.line, r.module))
          seen[path .. " " .. (allowed["*"] and "*" or r.module)] = true
        end
      end
    end
    -- The list holds nothing stale: every entry is a lazy load that exists.
    for path, modules in pairs(LAZY) do
      for module in pairs(modules) do
        assert.truthy(seen[path .. " " .. module], ("%s no longer requires %s inside a function: "
          .. "drop it from the list"):format(path, module))
      end
    end
  end)

  it("keeps only the package, falcon.json and the public forwards directly in lua/falcon/", function()
    for _, path in ipairs(lines_of("find lua/falcon -maxdepth 1 -type f")) do
      local name = path:match("[^/]+$")
      assert.truthy(TOP[name] or FORWARDS[name], path .. " is directly in lua/falcon/: put it in the folder of "
        .. "its part (README, \"Folders\"); a public name is a one-line forward listed in spec/layout_spec.lua")
    end
  end)

  it("makes each public name a one-line forward to the same module table", function()
    for name, real in pairs(FORWARDS) do
      local text = read("lua/falcon/" .. name)
      local code = {}
      for l in text:gmatch("[^\n]+") do
        if not l:find("^%-%-") then code[#code + 1] = l end
      end
      assert.same({ ('return require "%s"'):format(real) }, code, name)
      assert.truthy(text:find("^%-%- The public name of " .. real:gsub("%.", "%%.")), name .. ": its comment")
      local public = "falcon." .. name:gsub("%.lua$", "")
      assert.equal(require(real), require(public), public)
    end
  end)
end)
