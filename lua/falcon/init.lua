--- falconlua: a Lua SDK for the CrowdStrike Falcon API.
--   local falcon = require "falcon"
--   local mc = falcon.MessageCenter { client_id = ..., client_secret = ... }
-- Modules load on first use, so a script that needs one service class pays for nothing else.
local core = require "falcon.core"

local falcon = { _VERSION = "falconlua " .. core.version, version = core.version }

-- The public names, each required on first use (the lazy loads spec/layout_spec.lua allows): a script that
-- names one service class loads nothing else.
local lazy = {
  Client = function() return require "falcon.client" end,
  APIError = function() return require("falcon.base.errors").APIError end,
  Result = function() return require "falcon.base.result" end,
  json = function() return require "falcon.json" end,
  regions = function() return require "falcon.base.regions" end,
  APIHarnessV2 = function() return require("falcon.classes.uber").APIHarnessV2 end,
  APIHarness = function() return require("falcon.classes.uber").APIHarness end,
  graphql_pages = function() return require("falcon.call.paginate").graphql_pages end,
  parallel = function() return require("falcon.drivers.parallel").run end,
  map = function() return require("falcon.drivers.parallel").map end,
  EventStream = function() return require("falcon.streams.event_stream").new end,
  checkpoint = function() return require "falcon.streams.checkpoint" end,
  CaseWatch = function() return require("falcon.watch.case_watch").new end,
}

return setmetatable(falcon, {
  __index = function(t, name)
    local load = lazy[name]
    local value
    if load then
      value = load()
    elseif type(name) == "string" and name:match("^%u") then
      -- Service classes (MessageCenter, Hosts, ...) are built from the generated endpoint tables.
      value = require("falcon.classes.service").class(name)
    end
    if value ~= nil then rawset(t, name, value) end
    return value
  end,
})
