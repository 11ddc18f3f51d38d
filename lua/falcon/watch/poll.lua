--- One poll of a case watch (falcon.CaseWatch): which cases changed, their details and activities, and the
-- changes they make against the watch's memory (falcon.watch.state). Nothing here changes memory.
--
-- Which cases changed: QueryCasesIdsByFilter with the watch's filter and
-- `case.last_modified_time:>'<watermark>'`, sorted by case.id (the one order the API's definition offers).
-- Timestamps have whole seconds and a change becomes visible to a query some time after its stamp (the
-- search index refreshes), so a second is *settled* only `settle` seconds after it ended by the server's
-- clock (the Date header of an answer): nothing new can be stamped in it any more. The watermark only moves
-- to a settled second; a case changed after it is listed again at the next poll, and memory tells what
-- was handed over already. That one rule covers ties at the watermark (several changes in one second, on
-- both sides of a poll, across a restart) and the server's clock differing from the client's.
-- Pages: one answer is a snapshot. Past one page, the settled window (watermark, settled] is read page by
-- page: no change can be stamped into it while we page, but a case leaving the filter moves the pages after
-- it forward, so a pass whose totals differ is read again (and the watermark stays if none is stable).
-- Details and activities are asked for the listed cases only, `batch` ids per lookup.
local State = require "falcon.watch.state"
local untrusted = require "falcon.base.untrusted"

local Poll = {}

local MAX_PASSES = 4
local MAX_OFFSET = 10000 -- the API's deepest offset

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end
Poll.iso = iso

local function bad(what) error({ bad_answer = "the API answered " .. what }, 0) end

-- The list of ids of an answer, checked.
local function ids_of(response)
  local list = type(response.body) == "table" and response.body.resources
  if type(list) ~= "table" then bad("a query without a resources list") end
  for _, id in ipairs(list) do
    if type(id) ~= "string" or id == "" or #id > 200 then bad("a query with an id that is not one") end
  end
  return list
end

local function total_of(response, got)
  local meta = type(response.body.meta) == "table" and response.body.meta or {}
  local total = untrusted.integer(type(meta.pagination) == "table" and meta.pagination.total or nil)
  if not total or total < got then bad("a query whose pagination total is not a count") end
  return total
end

--- The server's time of an answer: its Date header (whole seconds).
function Poll.server_time(response)
  local date = untrusted.http_date(response.headers["Date"])
  if not date then
    bad("without a Date header (" .. untrusted.printable(tostring(response.headers["Date"])) ..
      "): the watch reads the server's clock from it")
  end
  return date
end

--- The last settled second as of an answer: the server's time minus `settle`.
function Poll.settled(watch, response)
  return Poll.server_time(response) - watch.settle
end

local function case_filter(filter, after, upto)
  local parts = { filter and ("(" .. filter .. ")") or nil }
  parts[#parts + 1] = "case.last_modified_time:>'" .. iso(after) .. "'"
  if upto then parts[#parts + 1] = "case.last_modified_time:<='" .. iso(upto) .. "'" end
  return table.concat(parts, "+")
end

local function add(ids, seen, list)
  for _, id in ipairs(list) do
    if not seen[id] then seen[id], ids[#ids + 1] = true, id end
  end
end

-- Every page of the window (after, upto]: ids and the total, or nil when the total moved while paging.
local function pass(watch, state, upto)
  local ids, offset, expected = {}, 0, nil
  repeat
    local page = watch:_call("query_cases", { filter = case_filter(state.filter, state.w, upto),
                                              limit = watch.batch, offset = offset, sort = "case.id.asc" })
    local got = ids_of(page)
    local total = total_of(page, #got)
    if expected and total ~= expected then return nil end
    expected = total
    if total > MAX_OFFSET then return ids, total end
    for _, id in ipairs(got) do ids[#ids + 1] = id end
    offset = offset + #got
    if #got == 0 and offset < total then return nil end
  until offset >= total
  return ids, expected
end

-- The settled window (w, upto] read whole; returns the watermark it reached (nil: none stable).
local function window(watch, state, ids, seen, upto)
  local passes = 0
  while passes < MAX_PASSES do
    local got, total = pass(watch, state, upto)
    if got and total <= MAX_OFFSET then
      add(ids, seen, got)
      return upto
    elseif got then -- deeper than the API pages: a narrower window now, the rest next time
      if upto - state.w < 2 then bad(("%d changed cases in one second, more than it pages through"):format(total)) end
      upto = state.w + math.floor((upto - state.w) / 2)
    else
      passes = passes + 1
      watch.stats.relisted = watch.stats.relisted + 1
    end
  end
  return nil
end

--- The ids of the cases changed after the watermark, and the watermark the poll reaches once they are
--- handed over (nil: it stays).
function Poll.changed_ids(watch, state)
  local first = watch:_call("query_cases", { filter = case_filter(state.filter, state.w), limit = watch.batch,
                                             offset = 0, sort = "case.id.asc" })
  local settled = Poll.settled(watch, first)
  local ids, seen = {}, {}
  local got = ids_of(first)
  add(ids, seen, got)
  if total_of(first, #got) <= #got then return ids, math.max(settled, state.w) end
  watch.stats.paged = watch.stats.paged + 1
  if settled > state.w then return ids, window(watch, state, ids, seen, settled) end
  -- Nothing settled yet: every page now, as it stands; the watermark stays, so a case these pages miss
  -- (one left the filter meanwhile) is listed again next time.
  add(ids, seen, pass(watch, state, nil) or {})
  return ids, nil
end

--- Every case id the filter matches (for a sweep; best effort: one missed now is seen at the next).
function Poll.all_ids(watch, state)
  local ids, seen, offset = {}, {}, 0
  repeat
    local page = watch:_call("query_cases", { filter = state.filter, limit = watch.batch, offset = offset,
                                              sort = "case.id.asc" })
    local got = ids_of(page)
    local total = total_of(page, #got)
    add(ids, seen, got)
    offset = offset + #got
  until #got == 0 or offset >= math.min(total, MAX_OFFSET)
  return ids
end

-- `lookup(chunk)` for every `batch` ids; the entities found (a 404 names ids gone: they are skipped) and
-- the settled second of each one's answer.
local function look_up(watch, operation, ids)
  local found, settled = {}, {}
  for first = 1, #ids, watch.batch do
    local chunk = {}
    for i = first, math.min(first + watch.batch - 1, #ids) do chunk[#chunk + 1] = ids[i] end
    local response = watch:_call(operation, { ids = chunk }, true)
    local second = Poll.settled(watch, response)
    local list = type(response.body) == "table" and response.body.resources
    if type(list) ~= "table" then bad(operation .. " without a resources list") end
    for _, entity in ipairs(list) do
      if type(entity) ~= "table" or type(entity.id) ~= "string" then bad(operation .. " with an entity without id") end
      found[#found + 1], settled[entity.id] = entity, second
    end
  end
  return found, settled
end

-- The ids of a case's activities (created after `since`, when given), oldest first, and the settled
-- second of the listing.
local function activity_ids(watch, case_id, since)
  local ids, offset, settled = {}, 0, nil
  repeat
    local page = watch:_call("query_activities", { case_id = case_id, limit = watch.batch, offset = offset,
      sort = "activity.created_time.asc", filter = since and ("activity.created_time:>'" .. iso(since) .. "'") })
    settled = math.min(settled or math.huge, Poll.settled(watch, page))
    local got = ids_of(page)
    local total = total_of(page, #got)
    for _, id in ipairs(got) do ids[#ids + 1] = id end
    offset = offset + #got
  until #got == 0 or offset >= math.min(total, MAX_OFFSET)
  return ids, settled
end

local function by_change_time(x, y)
  if x.lmt ~= y.lmt then return x.lmt < y.lmt end
  return x.case.id < y.case.id
end

--- The changes of cases `ids`, in the order they are handed over (cases by last change, each case's own
--- changes in order), and `settled[id]`: the second each case's lists were complete for. With `sweep`,
--- only activities created after a case's item watermark are asked for.
function Poll.changes(watch, state, ids, sweep)
  local cases, settled = look_up(watch, "get_cases", ids)
  local order, owner, activity_list = {}, {}, {}
  for i, case in ipairs(cases) do
    local entry = state.cases[case.id]
    local since = sweep and (entry and entry.a or state:_default_a()) or nil
    local list, second = activity_ids(watch, case.id, since)
    settled[case.id] = math.min(settled[case.id], second)
    for _, id in ipairs(list) do owner[id], activity_list[#activity_list + 1] = case.id, id end
    order[i] = { case = case, lmt = State.time_of(case.last_modified_time, "a case's last_modified_time"),
                 activities = {} }
  end
  local by_id = {}
  for _, item in ipairs(order) do by_id[item.case.id] = item end
  local activities, activity_settled = look_up(watch, "get_case_activity", activity_list)
  for _, activity in ipairs(activities) do
    local item = by_id[owner[activity.id]]
    if item then
      item.activities[#item.activities + 1] = activity
      settled[item.case.id] = math.min(settled[item.case.id], activity_settled[activity.id])
    end
  end
  table.sort(order, by_change_time)
  local changes = {}
  for _, item in ipairs(order) do
    for _, change in ipairs(state:changes_for(item.case, item.activities, sweep)) do changes[#changes + 1] = change end
  end
  return changes, settled
end

return Poll
