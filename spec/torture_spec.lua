-- Any allocation may fail (spec/torture/README.md): the part of `make torture` that fits in the suite.
-- Under the VM running the suite (the ASan+UBSan build under spec/run --asan), the allocator shim fails
-- in turn every allocation of a fresh JSON decoder's first document (yajl makes its parser and buffers),
-- of a warm query and of get_cases (a gzip body): each one alone, and two in a row of any library and of
-- each. Every point must end in the right answer or a clean error (a memory error raised or returned, a
-- transport error), leave its object usable, and leave nothing allocated behind.
local emu = require "spec.helpers.emulator"
local vm = require "spec.helpers.vm"

describe("any allocation may fail (make torture, in part)", function()
  it("every failure point of a fresh JSON decoder, a warm query and get_cases is handled", function()
    local target = (os.getenv("FALCON_TEST_VM") or ""):find("asan", 1, true) and "asan" or vm
    local root = emu.script:match("^(.*)/emulator/falcon%-emulator$")
    local out, code = emu.run(("cd %s && spec/torture/run --vms %s --calls json,query,get_cases 2>&1")
      :format(emu.quote(root), target))
    assert.equal(0, code, out)
    local passed = tonumber(out:match("\n(%d+) passed, 0 failed%s*$"))
    assert.is_true(passed ~= nil and passed > 500, out)
  end)
end)
