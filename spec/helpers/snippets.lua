-- The fenced code blocks of the project's Markdown docs, and what each says it needs
-- (spec/readme_spec.lua states the convention; this file only reads it).
--   snippets.docs(root)        -> the Markdown files of the checkout (tracked or new, not ignored), sorted
--   snippets.blocks(path, doc) -> list of { doc, line, lang, kind, code, shape, needs, nginx, port, problem },
--                                 and the `make ...` commands named in its prose: list of { line, command }
-- kind: "lua", "sh", "nginx" (checked), "output" (text, json, ...: not run), or nil (an unlabelled fence:
-- a problem, since a command in it would escape every check).
local read_file = require("spec.helpers.emulator").read_file

local M = {}

local KINDS = { lua = "lua", sh = "sh", bash = "sh", shell = "sh", nginx = "nginx" }

function M.docs(root)
  local pipe = assert(io.popen("cd '" .. root .. "' && git ls-files -co --exclude-standard -- '*.md' 2>/dev/null"))
  local list = {}
  for path in pipe:lines() do
    local f = io.open(root .. "/" .. path, "rb")
    if f then f:close(); list[#list + 1] = path end
  end
  pipe:close()
  table.sort(list)
  return list
end

-- "shape", "nginx", "port 8088", "needs mc, id" (names run to the next keyword).
local function parse_directive(text, block)
  local words = {}
  for word in text:gmatch("[^%s,]+") do words[#words + 1] = word end
  local i = 1
  while i <= #words do
    local word = words[i]
    if word == "shape" then block.shape = true
    elseif word == "nginx" then block.nginx = true
    elseif word == "port" then
      i = i + 1
      block.port = tonumber(words[i])
      if not block.port then return "port needs a number" end
    elseif word == "needs" then
      local j = i + 1
      while words[j] and not (words[j] == "shape" or words[j] == "nginx" or words[j] == "port" or words[j] == "needs") do
        if not words[j]:match("^[%a_][%w_]*$") then return "needs: '" .. words[j] .. "' is not a name" end
        block.needs[#block.needs + 1] = words[j]
        j = j + 1
      end
      if j == i + 1 then return "needs names no variable" end
      i = j - 1
    else
      return "unknown word '" .. word .. "' (shape, nginx, port N, needs NAME...)"
    end
    i = i + 1
  end
end

function M.blocks(path, doc)
  local text = assert(read_file(path), path)
  local blocks, mentions, open = {}, {}, nil
  local n = 0
  for line in (text:gsub("\r\n", "\n") .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    n = n + 1
    local indent, fence, info = line:match("^( *)(```+)%s*(.-)%s*$")
    if not fence then indent, fence, info = line:match("^( *)(~~~+)%s*(.-)%s*$") end
    if open then
      if fence and fence:sub(1, 1) == open.fence:sub(1, 1) and #fence >= #open.fence and info == "" then
        open.code = table.concat(open.lines, "\n") .. "\n"
        open.lines, open.fence, open.indent = nil, nil, nil
        blocks[#blocks + 1] = open
        open = nil
      else
        -- Content is dedented by the fence's own indentation (list items).
        open.lines[#open.lines + 1] = line:sub(1, #open.indent):match("^ *$") and line:sub(#open.indent + 1) or line
      end
    elseif not fence then
      for command in line:gmatch("`(make[ %w%-_=.,/]*)`") do mentions[#mentions + 1] = { line = n, command = command } end
    else
      local lang = (info:match("^([%w_+-]+)") or ""):lower()
      open = { doc = doc, line = n, lang = lang, fence = fence, indent = indent, lines = {}, needs = {} }
      if lang == "" then open.kind = nil else open.kind = KINDS[lang] or "output" end
    end
  end
  if open then
    open.problem = "fence opened here is never closed"
    open.code = table.concat(open.lines, "\n")
    blocks[#blocks + 1] = open
  end
  for _, block in ipairs(blocks) do
    local first = block.code:match("^[^\n]*")
    local directive = block.kind == "lua" and first:match("^%-%-%s*test:%s*(.-)%s*$")
      or block.kind == "sh" and first:match("^#%s*test:%s*(.-)%s*$")
    if directive then block.problem = block.problem or parse_directive(directive, block) end
    if block.kind == nil then
      block.problem = block.problem or "a fence without a language: label it (```text for output, ```sh for commands)"
    end
    if block.nginx and block.kind ~= "lua" then block.problem = block.problem or "'nginx' is for Lua snippets" end
    if block.port and block.kind ~= "sh" then block.problem = block.problem or "'port' is for shell blocks" end
  end
  return blocks, mentions
end

return M
