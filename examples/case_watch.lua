-- Case watch: CrowdStrike's replies and status changes on your Message Center cases, synced to a file that
-- stands in for a ticket system (one line per change, each once), resuming from a checkpoint file.
--   lua5.4 examples/case_watch.lua          -- runs until interrupted
--   lua5.4 examples/case_watch.lua 5        -- stops after 5 seconds without a change (run it again: it
--                                           -- goes on after the last change it synced)
-- FALCON_TICKETS names the file (default tickets.txt in TMPDIR), FALCON_WATCH_CHECKPOINT the checkpoint
-- (case_watch.ckpt in TMPDIR), FALCON_WATCH_INTERVAL the seconds between polls (30).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local tmp = os.getenv("TMPDIR") or "/tmp"
local tickets_path = os.getenv("FALCON_TICKETS") or (tmp .. "/tickets.txt")
local idle = tonumber(arg and arg[1])

local mc = falcon.MessageCenter(common.options())
local watch = mc:watch {
  filter = "case.status:!'closed'",   -- open cases (a case that closes is seen closing, then leaves)
  interval = tonumber(os.getenv("FALCON_WATCH_INTERVAL")) or 30,
  checkpoint = os.getenv("FALCON_WATCH_CHECKPOINT") or (tmp .. "/case_watch.ckpt"),
  idle_timeout = idle,
}

-- What the ticket system is told about a change (nil: nothing to tell).
local function ticket_line(change)
  local case = change.case
  local head = ("%s %s [%s]"):format(change.at, case.key or change.case_id, case.title)
  if change.kind == "activity_added" or change.kind == "activity_edited" then
    local verb = change.kind == "activity_added" and "reply from" or "reply edited by"
    return ("%s %s %s: %s"):format(head, verb, change.activity.created_by.display_name, change.activity.body)
  elseif change.kind == "case_updated" and change.changed.status then
    return ("%s status %s -> %s"):format(head, tostring(change.changed.status.from), change.changed.status.to)
  elseif change.kind == "attachment_added" then
    return ("%s attachment %s"):format(head, change.attachment.name)
  elseif change.kind == "case_created" then
    return ("%s opened by %s"):format(head, case.assigner.display_name)
  end
end

-- The handler returns once the line is on disk: only then is the change acknowledged, so a crash between
-- the two hands it over again (at most that one), never loses it.
watch:run(function(change)
  local line = ticket_line(change)
  if not line then return end
  local tickets = assert(io.open(tickets_path, "a"))
  assert(tickets:write(line, "\n"))
  assert(tickets:close())
  print("synced: " .. line)
end)
print(("done: %d changes, %d requests"):format(watch.stats.acknowledged, watch.stats.requests))
