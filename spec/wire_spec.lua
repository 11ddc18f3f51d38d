-- Every operation of the tables, in both styles (service method under FalconPy's name and keywords, Uber
-- command with the swagger's names), with arguments of every location and type, against a server that
-- records each request as it arrived (spec/helpers/wire_recorder.c): each request is checked against the
-- rules the swagger states (spec/helpers/wire_rules.lua). One kept-alive connection, no process per call.
local falcon = require "falcon"
local endpoints = require "falcon.endpoints"
local emulator = require "spec.helpers.emulator"
local openresty = require "spec.helpers.openresty"
local wire = require "spec.helpers.wire"
local rules = require "spec.helpers.wire_rules"

local ROOT = emulator.script:match("^(.*)/emulator/falcon%-emulator$")

local SHOWN = 12 -- failures listed in a message

-- One call and the request(s) it made, checked: { problems } (empty when right).
local function checked(recorder, expected, call)
  local ok, err = pcall(call)
  local got = recorder:take()
  if expected.refused then
    if ok then return { "not refused" } end
    if #got > 0 then return { "refused, but " .. #got .. " request(s) sent" } end
    if not (tostring(err):find("login()", 1, true) or tostring(err):find("logout()", 1, true)) then
      return { "refused without pointing to login()/logout(): " .. tostring(err) }
    end
    return {}
  end
  if not ok then return { "raised: " .. tostring(err) } end
  if #got ~= 1 then return { #got .. " requests sent" } end
  return rules.check(expected, got[1])
end

-- Runs `each(item) -> problems` over a list; returns the count right and a message listing what was not.
local function sweep(list, label, each)
  local right, failures = 0, {}
  for _, item in ipairs(list) do
    local problems = each(item)
    if #problems == 0 then
      right = right + 1
    elseif #failures < SHOWN then
      failures[#failures + 1] = "  " .. label(item) .. ": " .. table.concat(problems, "; ")
    end
  end
  return right, ("%d of %d right; first failures:\n%s"):format(right, #list, table.concat(failures, "\n"))
end

describe("the wire of every operation", function()
  local recorder, dir, file_path, client
  local objects = {}

  -- One client for every object: one token, one kept-alive connection.
  local function object(class)
    client = client or falcon.Client.new { access_token = rules.TOKEN, base_url = recorder.url, max_retries = 0,
                                           debug = function() end } -- decommissioned operations warn here
    objects[class] = objects[class] or falcon[class] { auth_object = client }
    return objects[class]
  end

  setup(function()
    recorder = wire.start()
    dir = emulator.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-wirefile.XXXXXX\""):gsub("%s+$", "")
    file_path = dir .. "/" .. rules.FILE_NAME
    local f = assert(io.open(file_path, "wb"))
    f:write(rules.FILE_BYTES)
    f:close()
  end)

  teardown(function()
    if recorder then recorder:stop() end
    if dir then emulator.run("rm -rf " .. emulator.quote(dir)) end
  end)

  it("service classes: every operation under FalconPy's method name, every parameter in FalconPy's spelling", function()
    local list = rules.operations()
    assert.is_true(#list > 1700, "operations: " .. #list)
    local right, message = sweep(list, function(item) return item.class .. "." .. item.method end, function(item)
      local values = rules.values(item.op, "all")
      local obj = object(item.class)
      return checked(recorder, rules.expect(item.op, values), function()
        return obj[item.method](obj, rules.service_args(item.op, values))
      end)
    end)
    assert.equal(#list, right, message)
  end)

  it("the Uber class: every Operation ID, query in parameters, form in data and files, bytes in data", function()
    local list = rules.uber_operations()
    local uber = falcon.APIHarnessV2 { auth_object = object("MessageCenter") }
    local right, message = sweep(list, function(item) return item.id end, function(item)
      local values = rules.values(item.op, "all")
      return checked(recorder, rules.expect(item.op, values), function()
        return uber:command(item.id, rules.uber_args(values))
      end)
    end)
    assert.equal(#list, right, message)
  end)

  it("only what the API requires of the caller: FalconPy's values supplied, files and bytes streamed from disk", function()
    local list = rules.operations()
    local right, message = sweep(list, function(item) return item.class .. "." .. item.method end, function(item)
      local values = rules.values(item.op, "required")
      local obj = object(item.class)
      return checked(recorder, rules.expect(item.op, values, file_path), function()
        return obj[item.method](obj, rules.service_args(item.op, values, file_path))
      end)
    end)
    assert.equal(#list, right, message)
  end)

  it("refuses a keyword that is neither the swagger's nor FalconPy's spelling, and both spellings at once", function()
    local list, refusals, swagger, falconpy = rules.operations(), 0, 0, 0
    local right, message = sweep(list, function(item) return item.class .. "." .. item.method end, function(item)
      if item.op.refused then return {} end
      local obj, problems = object(item.class), {}
      local args = rules.service_args(item.op, rules.values(item.op, "required"), file_path)
      local all = rules.values(item.op, "all")
      local tries = { { "not_a_parameter", { not_a_parameter = 1 } } } -- { keyword the error names, extra keywords }
      for _, p in ipairs(item.op.params) do
        if not p.engine and p["in"] ~= "body" and p.type ~= "file" then
          swagger = swagger + 1
          if p.alias then
            falconpy = falconpy + 1
            tries[#tries + 1] = { p.alias, { [p.name] = all[p], [p.alias] = all[p] } }
          end
        end
      end
      for _, try in ipairs(tries) do
        local call = {}
        for k, v in pairs(args) do call[k] = v end
        for k, v in pairs(try[2]) do call[k] = v end
        local ok, err = pcall(obj[item.method], obj, call)
        local sent = #recorder:take()
        if ok or sent > 0 or not tostring(err):find("bad argument '" .. try[1] .. "'", 1, true) then
          problems[#problems + 1] = ("took %s (%s, %d sent)"):format(try[1], tostring(err), sent)
        end
        refusals = refusals + 1
      end
      return problems
    end)
    assert.equal(#list, right, message)
    -- what the operation index lists (spec/endpoints_index_spec.lua): every parameter, and FalconPy's
    -- spelling of the 91 whose name is not a Python keyword (account-ids, ID, X-File-Password, orderBy)
    assert.is_true(swagger > 3000, "parameters: " .. swagger)
    assert.equal(91, falconpy)
    assert.is_true(refusals > #list)
  end)

  it("every class FalconPy 1.6.2 exports answers to every method name FalconPy gives it, with that operation", function()
    local data = dofile(ROOT .. "/tools/falconpy_names.lua")
    local classes, names, shadowed = 0, 0, 0
    local pairs_list = {}
    for class, info in pairs(data.classes) do
      classes = classes + 1
      for _, pair in ipairs(info.methods) do pairs_list[#pairs_list + 1] = { class, pair[1], pair[2] } end
    end
    for alias, class in pairs(data.aliases) do
      assert.equal(falcon[class], falcon[alias], alias)
      classes = classes + 1
    end
    table.sort(pairs_list, function(a, b) return a[1] .. "." .. a[2] < b[1] .. "." .. b[2] end)
    local right, message = sweep(pairs_list, function(t) return t[1] .. "." .. t[2] end, function(t)
      local class, name, id = t[1], t[2], t[3]
      local view = endpoints.class_view(class)
      if view.by_id[name] and name ~= id then -- an Operation ID names its own operation (README)
        shadowed = shadowed + 1
        return {}
      end
      names = names + 1
      local op = view.by_id[id] or endpoints.get(id)
      local values = rules.values(op, "required")
      local obj = object(class)
      if not op.refused and type(obj[name]) ~= "function" then return { "no method" } end
      return checked(recorder, rules.expect(op, values, file_path), function()
        return obj[name](obj, rules.service_args(op, values, file_path))
      end)
    end)
    assert.equal(#pairs_list, right, message)
    assert.equal(118, classes) -- 114 classes and 4 other names (PreventionPolicies, F4IT, ...)
    assert.equal(22, shadowed) -- FalconPy's names that are another operation's ID (Hosts.GetDeviceDetails)
    assert.is_true(names > 2700, "names: " .. names)
  end)

  describe("bodies of bytes and bodies that are not there", function()
    -- A call that must be refused before anything is sent: the error names `argname`.
    local function refused(argname, call)
      local ok, err = pcall(call)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("bad argument '" .. argname .. "'", 1, true), tostring(err))
      assert.same({}, recorder:take())
    end

    it("takes bytes where the swagger's consumes has a type for them, and sends them as that type", function()
      local bytes = {}
      for _, item in ipairs(rules.uber_operations()) do
        if rules.body_param(item.op) and rules.bytes_type(item.op) then bytes[item.id] = rules.bytes_type(item.op) end
      end
      assert.same({ PutObject = "application/octet-stream", PutObjectByVersion = "application/octet-stream",
                    ArchiveUploadV1 = "application/octet-stream", WorkflowDefinitionsUpdate = "application/yaml" }, bytes)
    end)

    it("refuses what an operation's body cannot be, naming it, before anything is sent", function()
      local samples, storage = object("SampleUploads"), object("CustomStorage")
      refused("body", function() samples:upload_archive_v1 { name = "a.zip", body = { not_bytes = true } } end)
      refused("body", function() samples:upload_archive_v1 { name = "a.zip" } end)
      refused("file_path", function() samples:upload_archive_v1 { name = "a.zip", body = "PK", file_path = file_path } end)
      refused("file_path", function()
        storage:put_object { collection_name = "c", object_key = "k", file_path = dir .. "/no-such-file" }
      end)
      local uber = falcon.APIHarnessV2 { auth_object = object("MessageCenter") }
      refused("content_type", function()
        uber:command("admission_control_delete_policies", { ids = { "a" }, content_type = "application/json" })
      end)
      refused("data", function() object("Hosts"):query_devices_by_filter { data = "bytes" } end)
    end)

    it("a streamed body whose file shrinks while it is sent fails the call; no short request reaches the server", function()
      local big = dir .. "/shrinking.zip"
      local f = assert(io.open(big, "wb"))
      f:write(("z"):rep(4 * 1024 * 1024))
      f:close()
      object("MessageCenter")
      local shrunk = false
      local response = client:request { method = "POST", route = "/archives/entities/archives/v1",
        body_path = big, content_type = "application/octet-stream", progress = function(_, _, _, sent)
          if sent > 0 and not shrunk then
            shrunk = true
            emulator.run("truncate -s 1000 " .. emulator.quote(big))
          end
        end }
      assert.is_true(shrunk)
      assert.is_table(response.transport_error, "a short body went out as a whole request")
      assert.truthy(response.transport_error.message:find("shrinking.zip", 1, true), response.transport_error.message)
      assert.same({}, recorder:take())
    end)

    it("the core refuses a body_path that is not a regular file, before anything is sent", function()
      object("MessageCenter")
      local ok, err = pcall(client.request, client, { method = "PUT", route = "/x", body_path = dir })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("body_path", 1, true), tostring(err))
      assert.same({}, recorder:take())
    end)
  end)

  describe("one request after another on one connection: nothing one request sets leaks into the next", function()
    it("blocking libcurl (one reused easy handle)", function()
      object("MessageCenter")
      local raised, driver = rules.run_sequence(falcon, client, file_path)
      assert.equal("blocking", driver)
      assert.same({}, rules.check_sequence(file_path, raised, recorder:take()))
    end)

    it("curl multi, under falcon.parallel", function()
      object("MessageCenter")
      local results, errors = falcon.parallel({ function() return { rules.run_sequence(falcon, client, file_path) } end })
      assert.is_nil(errors)
      assert.equal("multi", results[1][2])
      assert.same({}, rules.check_sequence(file_path, results[1][1], recorder:take()))
    end)

    it("ngx_lua cosockets, inside nginx", function()
      local server = openresty.start { emu = { url = recorder.url, tls_url = recorder.url, client_id = "unused",
        client_secret = "unused", ca = "/etc/ssl/certs/ca-certificates.crt" } }
      local ok, result = pcall(server.get, server, "/wire?token=" .. rules.TOKEN .. "&file=" .. file_path)
      server:stop()
      assert(ok, result)
      assert.equal("cosocket", result.driver)
      assert.same({}, rules.check_sequence(file_path, result.raised, recorder:take()))
    end)
  end)
end)
