-- What the generators (tools/gen_docs.lua, tools/gen_types.lua) share: making the output folder and
-- writing a file whole. Run from the repository root, as they are.
local output = {}

--- `mkdir -p` of `dir` (quoted for the shell).
function output.folder(dir)
  assert(os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'"))
end

--- Writes `text` to `path`, replacing what was there.
function output.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

return output
