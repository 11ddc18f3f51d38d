--- What a case watch (falcon.CaseWatch) remembers, and what a case's answer means against it.
--
-- The watermark `w` (epoch seconds, the server's clock): every change stamped at or before it has been
-- handed over and acknowledged. It only ever moves to a settled second (see falcon.watch.poll), so
-- nothing new can still be stamped at or before it.
-- Per case seen (`cases[id]`):
--   f  the fields watched (status, title, type, assigner, body, hosts, detections, incidents) as handed
--      over last: canonical JSON, or "#<digest>" when longer than 128 bytes (then `from` is not known)
--   a  the item watermark: every activity and attachment of the case stamped at or before it was handed
--      over (or is older than the watch); a settled second, as `w` is
--   t  items handed over since `a`: id -> {version, digest}, so that one stamped in the same second as
--      another, or edited twice in one second, is neither lost nor handed over twice
--   l  the case's last_modified_time when last handed over (the least recent are forgotten past max_cases)
-- Each change has its effect on this memory (kept beside it, not in it: a change is the application's),
-- applied when the application acknowledges it; a poll's watermarks move only once every change of the
-- poll is acknowledged (`commit`). Nothing here is I/O.
local errors = require "falcon.base.errors"
local json = require "falcon.json"
local untrusted = require "falcon.base.untrusted"

local State = {}
State.__index = State

State.FIELDS = { "status", "title", "type", "assigner", "body", "hosts", "detections", "incidents" }
local INLINE = 128   -- bytes of a field's value kept as it is; longer ones as a digest
local VERSION = 1

local function fail(fmt, ...) errors.raise("CaseWatch", fmt, ...) end

--- A 64-bit digest in pure Lua (two polynomial hashes modulo primes below 2^32; exact in doubles), for
--- values too long to keep: it only has to tell a change from no change.
local function digest(text)
  local a, b = 7, 11
  for i = 1, #text do
    local c = text:byte(i)
    a = (a * 31 + c) % 4294967291
    b = (b * 131 + c) % 4294967279
  end
  return ("%08x%08x"):format(a, b)
end

-- JSON with object keys sorted: two equal values give one text.
local function canonical(value)
  if type(value) ~= "table" or value == json.null then return json.encode(value) end
  local parts = {}
  if #value > 0 or json.is_array(value) then
    for i, v in ipairs(value) do parts[i] = canonical(v) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = json.encode(k) .. ":" .. canonical(value[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function sorted(list)
  local out = json.array()
  for i, v in ipairs(list) do out[i] = v end
  table.sort(out, function(x, y) return tostring(x) < tostring(y) end)
  return out
end

local function ids_of(links)
  local out = {}
  for i, link in ipairs(links) do out[i] = type(link) == "table" and link.id or link end
  return sorted(out)
end

-- A field as compared: linked hosts, detections and incidents as sorted lists (of ids), whatever order
-- the API lists them in.
local NORMAL = { hosts = sorted, detections = ids_of, incidents = ids_of }

local function field_value(case, name)
  local value = case[name]
  if type(value) == "table" and value ~= json.null and NORMAL[name] then value = NORMAL[name](value) end
  return value
end

local function kept(value)
  local text = canonical(value)
  if #text > INLINE then return "#" .. digest(text) end
  return text
end

--- A new memory for `filter`; `since` (epoch seconds) is where the watch starts, or nil until the first
--- poll has read the server's clock.
function State.new(filter, since, max_cases)
  return setmetatable({ filter = filter, w = since, w0 = since, cases = {}, count = 0, max_cases = max_cases,
                        effects = setmetatable({}, { __mode = "k" }) }, State)
end

function State:encode()
  return json.encode { v = VERSION, filter = self.filter or "", w = self.w, w0 = self.w0, floor = self.floor,
                       cases = self.cases }
end

local function number_or_nil(value) return value == nil or (type(value) == "number" and value == value) end

-- A case's memory as read from a checkpoint: checked field by field (a checkpoint is input too).
local function check_case(id, c)
  if type(id) ~= "string" or type(c) ~= "table" or type(c.a) ~= "number" or type(c.l) ~= "number"
      or (c.f ~= nil and type(c.f) ~= "table") or (c.t ~= nil and type(c.t) ~= "table") then
    return false
  end
  for _, v in pairs(c.f or {}) do if type(v) ~= "string" then return false end end
  for item, v in pairs(c.t or {}) do
    if type(item) ~= "string" or type(v) ~= "table" or type(v[1]) ~= "number" or type(v[2]) ~= "string" then
      return false
    end
  end
  c.t = c.t or {}
  return true
end

--- The memory a checkpoint's text holds, for a watch of `filter`; raises on a checkpoint that is not
--- one, or that belongs to a watch of another filter (resuming it would hand over the wrong cases).
function State.decode(text, filter, max_cases)
  local ok, saved = pcall(json.decode, text, { max_depth = 8 })
  if not ok or type(saved) ~= "table" or saved.v ~= VERSION or type(saved.cases) ~= "table"
      or not number_or_nil(saved.w) or not number_or_nil(saved.w0) or not number_or_nil(saved.floor) then
    fail("the checkpoint is not a case watch's (%s)", ok and "unexpected content" or tostring(saved))
  end
  if saved.filter ~= (filter or "") then
    fail("the checkpoint belongs to a watch of another filter (%q); give this watch its own checkpoint",
      untrusted.printable(tostring(saved.filter)))
  end
  local self = State.new(filter, saved.w, max_cases)
  self.w0, self.floor = saved.w0, saved.floor
  for id, c in pairs(saved.cases) do
    if not check_case(id, c) then fail("the checkpoint's entry for case %s is damaged", untrusted.printable(id)) end
    self.cases[id] = c
    self.count = self.count + 1
  end
  return self
end

-- Where the items of a case never seen begin: the watch's start (raised when memories are forgotten).
function State:_default_a()
  return math.max(self.w0 or 0, self.floor or 0)
end

--- The time of a server timestamp, raising on one that is not (the API's answer is input).
function State.time_of(value, what)
  local t = untrusted.timestamp(value)
  if not t then fail("the API answered %s %q, which is not a timestamp", what, untrusted.printable(tostring(value))) end
  return t
end

-- The case-level change of `case` against memory `entry`, or nil when no watched field changed.
local function case_change(self, case, entry, lmt)
  local fields, changed, any = {}, {}, false
  local known = entry and entry.f ~= nil
  for _, name in ipairs(State.FIELDS) do
    local value = field_value(case, name)
    fields[name] = kept(value)
    if known and entry.f[name] ~= fields[name] then
      local before = entry.f[name]
      local from = before and before:sub(1, 1) ~= "#" and json.decode(before) or nil
      changed[name], any = { from = from, to = value }, true
    end
  end
  local effect = { case_id = case.id, f = fields, l = lmt }
  if known then
    if not any then return nil end
    return { kind = "case_updated", changed = changed }, effect
  end
  local created = State.time_of(case.created_time, "a case's created_time")
  return { kind = created > (self.w0 or 0) and "case_created" or "case_seen" }, effect
end

-- An activity or attachment as an item: {id, version (epoch), at (its timestamp), key (digest)}.
local function item_of(kind, value)
  if type(value) ~= "table" or type(value.id) ~= "string" then fail("the API answered an %s without an id", kind) end
  local stamp = value.created_time
  if kind == "activity" and type(value.last_modified_time) == "string" and value.last_modified_time ~= "" then
    stamp = value.last_modified_time
  end
  return { kind = kind, id = value.id, value = value, at = stamp,
           version = State.time_of(stamp, "an " .. kind .. "'s time"), key = digest(canonical(value)) }
end

-- The items of a case not yet handed over, oldest first.
local function new_items(entry, a, activities, attachments)
  local items = {}
  for _, list in ipairs({ { "activity", activities }, { "attachment", attachments } }) do
    for _, value in ipairs(list[2]) do
      local item = item_of(list[1], value)
      local handed = entry and entry.t[item.id]
      if item.version > a and not (handed and handed[2] == item.key) then
        item.known = handed ~= nil or State.time_of(value.created_time, "an item's created_time") <= a
        items[#items + 1] = item
      end
    end
  end
  table.sort(items, function(x, y)
    if x.version ~= y.version then return x.version < y.version end
    if x.kind ~= y.kind then return x.kind < y.kind end
    return x.id < y.id
  end)
  return items
end

local ITEM_KIND = { activity = { "activity_added", "activity_edited" }, attachment = { "attachment_added" } }

--- The changes `case` (as GetCaseEntitiesByIDs answers it) and its `activities` make against memory, in
--- the order they are handed over: the case's own change first, then its items oldest first. Each
--- carries kind, case_id, at (the server's timestamp), case, and changed / activity / attachment.
--- `items_only` (a sweep): activities and attachments only (a field change moves the case, and is listed).
function State:changes_for(case, activities, items_only)
  local entry = self.cases[case.id]
  local lmt = State.time_of(case.last_modified_time, "a case's last_modified_time")
  local out = {}
  local head, effect
  if not items_only then head, effect = case_change(self, case, entry, lmt) end
  if head then
    head.at = case.last_modified_time
    out[1], self.effects[head] = head, effect
  end
  local attachments = type(case.attachments) == "table" and case.attachments or {}
  for _, item in ipairs(new_items(entry, entry and entry.a or self:_default_a(), activities, attachments)) do
    local kinds = ITEM_KIND[item.kind]
    local change = { kind = item.known and kinds[2] or kinds[1], at = item.at, [item.kind] = item.value }
    out[#out + 1] = change
    self.effects[change] = { case_id = case.id, item = item.id, version = item.version, key = item.key, l = lmt }
  end
  for _, change in ipairs(out) do change.case_id, change.case = case.id, case end
  return out
end

function State:_entry(case_id)
  local entry = self.cases[case_id]
  if not entry then
    entry = { a = self:_default_a(), t = {}, l = 0 } -- fields unknown until its case is handed over
    self.cases[case_id] = entry
    self.count = self.count + 1
  end
  return entry
end

--- Applies an acknowledged change to memory; false for a change this memory did not make (it was read
--- again from the store since: the change's effect is in it, or the change comes again).
function State:apply(change)
  local effect = self.effects[change]
  if not effect then return false end
  self.effects[change] = nil
  local entry = self:_entry(effect.case_id)
  if effect.f then entry.f = effect.f end
  if effect.item then entry.t[effect.item] = { effect.version, effect.key } end
  entry.l = math.max(entry.l, effect.l)
  return true
end

--- A poll's changes are all acknowledged: the watermark moves to `w` (nil: it stays), and each case
--- handled moves its item watermark to the second its lists were settled for (`settled[id]`).
function State:commit(w, settled)
  if w and (not self.w or w > self.w) then self.w = w end
  for case_id, a in pairs(settled or {}) do
    local entry = self.cases[case_id]
    if entry and a > entry.a then
      entry.a = a
      for item, handed in pairs(entry.t) do
        if handed[1] <= a then entry.t[item] = nil end
      end
    end
  end
  self:_forget()
end

-- Past max_cases, the cases changed least recently are forgotten; their items' watermark becomes the
-- floor of every case not remembered (so none of theirs is handed over again).
function State:_forget()
  if not self.max_cases or self.count <= self.max_cases then return end
  local list = {}
  for id, entry in pairs(self.cases) do list[#list + 1] = { id = id, l = entry.l } end
  table.sort(list, function(x, y) return x.l < y.l end)
  for i = 1, self.count - self.max_cases do
    local entry = self.cases[list[i].id]
    self.floor = math.max(self.floor or 0, entry.a)
    self.cases[list[i].id] = nil
  end
  self.count = self.max_cases
end

State.digest = digest

return State
