--- Shell completion: `falcon completion bash|zsh` prints a script whose function asks
-- `falcon __complete WORDS...` for the candidates of the last word; the candidates come from the
-- operation tables, so completion always knows every operation and parameter the SDK does.
local args = require "falcon.cli.args"
local catalog = require "falcon.cli.catalog"
local endpoints = require "falcon.endpoints"

local M = {}

local SCRIPTS = {
  bash = [[
# falcon completion for bash: source <(falcon completion bash)
_falcon() {
  local IFS=$'\n'
  COMPREPLY=($(falcon __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _falcon falcon
]],
  zsh = [[
#compdef falcon
# falcon completion for zsh: source <(falcon completion zsh)   (after compinit)
_falcon() {
  local -a candidates
  candidates=("${(@f)$(falcon __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -a candidates
}
compdef _falcon falcon
]],
}

function M.script(ctx, shell)
  local text = SCRIPTS[shell or ""]
  if not text then
    args.usage("falcon completion: bash or zsh expected, got '%s'", tostring(shell))
  end
  ctx.screen:data(text)
  return 0
end

-- falcon.cli is required inside the functions below, not above: it requires this module (a cycle).
local function option_flags(list)
  for name in pairs(require("falcon.cli").OPTIONS) do list[#list + 1] = "--" .. name end
end

--- The candidates for the last of `words` (the words after `falcon`, the last one being typed).
function M.list(words)
  local current = words[#words] or ""
  local out = {}
  local first = words[1]
  if #words <= 1 then
    for _, c in ipairs(require("falcon.cli").command_names()) do out[#out + 1] = c end
    for _, c in ipairs(catalog.typed_collections()) do out[#out + 1] = c end
  elseif first == "emulator" and #words == 2 then
    out = { "start", "stop", "env" }
  elseif first == "completion" and #words == 2 then
    out = { "bash", "zsh" }
  elseif first == "configure" then
    out = { "--profile" }
  elseif first == "call" or first == "help" then
    if #words == 2 then
      for id in pairs(endpoints.operations) do out[#out + 1] = id end
      if first == "help" then for _, c in ipairs(catalog.typed_collections()) do out[#out + 1] = c end end
    elseif first == "call" then
      local op = endpoints.get(words[2])
      if op then
        for _, kw in ipairs(catalog.keywords(op)) do out[#out + 1] = kw.name .. "=" end
        option_flags(out)
      end
    end
  else
    local cname = catalog.find_collection(first)
    if cname and #words == 2 then
      for _, op in ipairs(catalog.operations(cname)) do out[#out + 1] = catalog.command_name(op) end
    elseif cname then
      local op = catalog.find_operation(cname, words[2])
      if op and current:sub(1, 1) == "-" then
        for _, kw in ipairs(catalog.keywords(op)) do
          if kw.where ~= "file" then out[#out + 1] = "--" .. kw.name:gsub("_", "-") end
        end
        option_flags(out)
      end
    end
  end
  local matching = {}
  for _, c in ipairs(out) do
    if c:sub(1, #current) == current then matching[#matching + 1] = c end
  end
  table.sort(matching)
  return matching
end

function M.candidates(ctx, words)
  for _, c in ipairs(M.list(words)) do ctx.screen:data(c .. "\n") end
  return 0
end

return M
