-- Event Streams: print detections as they arrive, resuming from a checkpoint file.
--   lua5.4 examples/event_stream.lua            -- runs until interrupted
--   lua5.4 examples/event_stream.lua 10         -- stops after 10 detections (run it again: it goes on from there)
-- The checkpoint is FALCON_STREAM_CHECKPOINT, or event_stream.ckpt in TMPDIR: a new run starts with the
-- detection after the last one printed, whatever stopped the one before (Ctrl-C, kill -9, a reboot).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local falcon = common.falcon

local limit = tonumber(arg and arg[1])
local checkpoint = os.getenv("FALCON_STREAM_CHECKPOINT") or ((os.getenv("TMPDIR") or "/tmp") .. "/event_stream.ckpt")

local stream = falcon.EventStream(common.options {
  app_id = "falconluaexample",                 -- one consumer per app id
  event_types = { "DetectionSummaryEvent" },   -- asked of the API (eventType=)
  checkpoint = checkpoint,
})

local printed = 0
for event, partition in stream:events() do
  local meta, detection = event.metadata, event.event
  print(("partition %d offset %d %s %s on %s (severity %s)"):format(partition, meta.offset, meta.eventType,
    tostring(detection.DetectId), tostring(detection.ComputerName), tostring(detection.Severity)))
  printed = printed + 1
  if printed == limit then
    stream:ack() -- the loop ends here: count this one as done too
    break
  end
end
stream:stop()
