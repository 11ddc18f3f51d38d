--- Nearest-name suggestions for error messages ("did you mean ...?").
local suggest = {}

local function distance(a, b)
  a, b = a:lower(), b:lower()
  local previous = {}
  for j = 0, #b do previous[j] = j end
  for i = 1, #a do
    local current = { [0] = i }
    local ca = a:byte(i)
    for j = 1, #b do
      local cost = (ca == b:byte(j)) and 0 or 1
      current[j] = math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    end
    previous = current
  end
  return previous[#b]
end
suggest.distance = distance

--- The names closest to `name` (at most `count`, default 3), closest first.
---@param name string
---@param names string[]|table<string, any> a list, or a table whose keys are the names
---@param count? integer
---@return string[]
function suggest.nearest(name, names, count)
  local scored = {}
  local list = names
  if #names == 0 then
    list = {}
    for key in pairs(names) do if type(key) == "string" then list[#list + 1] = key end end
  end
  local lowered = name:lower()
  for _, candidate in ipairs(list) do
    local d = distance(name, candidate)
    -- A name that contains the typed text is a good hint even when long.
    if candidate:lower():find(lowered, 1, true) then d = math.min(d, 1) end
    scored[#scored + 1] = { candidate, d }
  end
  table.sort(scored, function(x, y) if x[2] ~= y[2] then return x[2] < y[2] end return x[1] < y[1] end)
  local result, limit = {}, math.max(2, math.floor(#name / 2))
  for i = 1, math.min(count or 3, #scored) do
    if scored[i][2] <= limit then result[#result + 1] = scored[i][1] end
  end
  return result
end

--- " (did you mean 'a' or 'b'?)", or "" when nothing is close.
function suggest.hint(name, names)
  local near = suggest.nearest(name, names)
  if #near == 0 then return "" end
  return " (did you mean '" .. table.concat(near, "' or '") .. "'?)"
end

--- " (did you mean a or b?)" for words typed on a command line (unquoted, each after `prefix`, e.g.
--- "--"), or "" when `near` is empty.
---@param near string[] names from suggest.nearest
---@param prefix? string
function suggest.words(near, prefix)
  if #near == 0 then return "" end
  prefix = prefix or ""
  return " (did you mean " .. prefix .. table.concat(near, " or " .. prefix) .. "?)"
end

return suggest
