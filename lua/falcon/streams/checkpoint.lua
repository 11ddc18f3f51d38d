--- Checkpoint stores for falcon.EventStream: where the last acknowledged offset of each partition is kept,
-- so that a consumer started again resumes with the event after it.
-- A store is a table with two functions (this is the seam for other providers, e.g. Redis):
--   load()                          -> { [partition] = offset, ... } (empty when nothing was saved), or nil, err
--   save(partition, offset, all)    -> true, or nil, err   (`all`: every partition's offset, this one included)
--   local checkpoint = require "falcon.streams.checkpoint"
--   checkpoint.file("/var/lib/forwarder/stream.ckpt")     -- the default for scripts: atomic rename
--   checkpoint.shared_dict(ngx.shared.falcon, "stream:")  -- inside nginx: shared by the workers
--   checkpoint.functions(load, save)                      -- your own
local errors = require "falcon.base.errors"
local untrusted = require "falcon.base.untrusted"

local checkpoint = {}

-- A checkpoint file holds a line per partition; more than this is not one the stream wrote.
local MAX_FILE = 1024 * 1024

local function fail(what, expected, got)
  errors.bad_argument("checkpoint", what, ("%s expected, got %s"):format(expected, got))
end

--- A partition or offset as a store keeps it: a number holding a whole number from 0 below 10^15, or nil.
--- Every VM holds those exactly (LuaJIT's numbers are doubles, exact to 2^53 only), and a file store
--- writes and reads them back unchanged. Offsets read from a feed are held to the same rule.
---@param value any
---@return number|nil
function checkpoint.whole(value)
  return type(value) == "number" and untrusted.integer(value) or nil
end

-- One line per partition: "<partition> <offset>". The file is input too: a line that is not two whole
-- numbers, or names a partition twice, makes it unreadable rather than half read.
local function parse(text, path)
  local offsets = {}
  for line in text:gmatch("[^\n]+") do
    local partition, offset = line:match("^(%d+) (%d+)$")
    partition, offset = checkpoint.whole(tonumber(partition)), checkpoint.whole(tonumber(offset))
    if not partition or not offset or offsets[partition] then
      return nil, ("checkpoint file %s: bad line %q"):format(path, untrusted.printable(line:sub(1, 40)))
    end
    offsets[partition] = offset
  end
  return offsets
end

-- The file's text, or nil, why for an offset it could not read back.
local function format(all)
  local partitions = {}
  for partition, offset in pairs(all) do
    if not checkpoint.whole(partition) or not checkpoint.whole(offset) then
      return nil, ("partition %s offset %s is not two whole numbers from 0 below 10^15"):format(
        tostring(partition), tostring(offset))
    end
    partitions[#partitions + 1] = partition
  end
  table.sort(partitions)
  local lines = {}
  for i, partition in ipairs(partitions) do lines[i] = ("%d %d\n"):format(partition, all[partition]) end
  return table.concat(lines)
end

--- A file, replaced whole on every save (written beside it, then renamed over it: a reader, or a
--- process killed mid-save, sees the old offsets or the new, never half of them).
function checkpoint.file(path)
  if type(path) ~= "string" or path == "" then fail("path", "file path string", type(path)) end
  return {
    path = path,
    load = function()
      local text, err = checkpoint.read_file(path, MAX_FILE)
      if not text then
        if err then return nil, err end
        return {} -- a first start
      end
      return parse(text, path)
    end,
    save = function(_, _, all)
      local text, why = format(all)
      if not text then return nil, "checkpoint not written: " .. why end
      return checkpoint.replace_file(path, text)
    end,
  }
end

--- The whole text of a checkpoint file, at most `max` bytes (a file on disk is input: a larger one is not
--- one the SDK wrote); nil when there is none yet, nil and a message when it cannot be read.
function checkpoint.read_file(path, max)
  local file, err, code = io.open(path, "rb")
  if not file then
    if code == 2 then return nil end -- ENOENT: a first start
    return nil, "cannot read checkpoint file: " .. tostring(err)
  end
  local text = file:read(max + 1)
  file:close()
  if text and #text > max then return nil, ("checkpoint file %s: larger than %d bytes"):format(path, max) end
  return text or ""
end

--- Replaces a checkpoint file with `text`: written beside it, then renamed over it (a reader, or a process
--- killed mid-save, sees the old text or the new, never a mix). true, or nil and a message.
function checkpoint.replace_file(path, text)
  local temp = path .. ".tmp"
  local file, err = io.open(temp, "wb")
  if not file then return nil, "cannot write checkpoint file: " .. tostring(err) end
  local ok, werr = file:write(text)
  local closed, cerr = file:close()
  if not ok or not closed then
    os.remove(temp)
    return nil, "cannot write checkpoint file " .. temp .. ": " .. tostring(werr or cerr)
  end
  local renamed, rerr = os.rename(temp, path)
  if not renamed then return nil, "cannot replace checkpoint file: " .. tostring(rerr) end
  return true
end

--- An ngx.shared dict: key prefix .. partition -> offset (seen by every worker, lost with nginx).
function checkpoint.shared_dict(dict, prefix)
  if type(dict) ~= "table" and type(dict) ~= "userdata" then fail("dict", "ngx.shared.DICT", type(dict)) end
  prefix = prefix or "falcon:checkpoint:"
  if type(prefix) ~= "string" then fail("prefix", "string", type(prefix)) end
  local partitions_key = prefix .. "partitions"
  return {
    load = function()
      local offsets = {}
      for partition in tostring(dict:get(partitions_key) or ""):gmatch("%d+") do
        offsets[tonumber(partition)] = dict:get(prefix .. partition)
      end
      return offsets
    end,
    save = function(partition, offset, all)
      if not checkpoint.whole(partition) or not checkpoint.whole(offset) then
        return nil, "checkpoint not saved: partition and offset must be whole numbers from 0 below 10^15"
      end
      local ok, err = dict:set(prefix .. partition, offset)
      if not ok then return nil, "cannot save checkpoint in the shared dict: " .. tostring(err) end
      local names = {}
      for p in pairs(all) do names[#names + 1] = tostring(p) end
      table.sort(names)
      dict:set(partitions_key, table.concat(names, ","))
      return true
    end,
  }
end

--- Your own pair: load() -> {[partition] = offset}, save(partition, offset, all) -> true | nil, err.
function checkpoint.functions(load, save)
  if type(load) ~= "function" then fail("load", "function", type(load)) end
  if type(save) ~= "function" then fail("save", "function", type(save)) end
  return { load = load, save = save }
end

--- What EventStream's `checkpoint` option may be: a path, a store, or nil (offsets kept in memory only).
function checkpoint.from(value)
  if value == nil then
    local memory = {}
    return { load = function() return memory end, save = function() return true end }
  end
  if type(value) == "string" then return checkpoint.file(value) end
  if type(value) == "table" and type(value.load) == "function" and type(value.save) == "function" then return value end
  errors.bad_option("EventStream", "checkpoint", "file path, falcon.checkpoint store or {load, save} expected, got "
    .. type(value))
end

return checkpoint
