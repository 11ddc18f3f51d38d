-- Test helper: the interpreter running this suite, for specs that start a child interpreter of the
-- same VM. spec/run names it in FALCON_TEST_VM (lua5.1 .. lua5.4, luajit, or lua5.4-asan/-valgrind);
-- busted run by hand is recognised from the running VM.
local label = os.getenv("FALCON_TEST_VM")
if not label or label == "" then
  label = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))
end
return label:match("^(luajit)") or label:match("^(lua5%.%d)") or "lua5.4"
