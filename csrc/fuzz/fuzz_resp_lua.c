/* libFuzzer harness: the RESP reader (lua/falcon/fleet/resp.lua), which reads every reply of a Redis peer under
 * both socket kinds, run in Lua 5.4 on hostile bytes. The first byte picks how the rest arrives (1 to 8
 * bytes at a time, or all at once), as a peer may cut a reply anywhere. Whatever arrives, resp.read must
 * return (never raise) one of: nil and a message; false and an error line; or a value of the kinds the SDK
 * asks for, within the reader's bounds (a string of at most MAX_BULK bytes, an integer within 2^53,
 * +OK, the nil reply, or an array of at most MAX_ITEMS of those). The reader is read from FALCON_LUA_DIR
 * (the checkout's lua/, set by the Makefile) at start. */
#include <stdint.h>
#include <stdio.h>

#include <lauxlib.h>
#include <lualib.h>

#ifndef FALCON_LUA_DIR
#define FALCON_LUA_DIR "lua"
#endif

static const char HARNESS[] =
    "local resp = require 'falcon.fleet.resp'\n"
    "local OK, null = resp.OK, resp.null\n"
    "local function scalar(v)\n"
    "  local t = type(v)\n"
    "  if t == 'string' then assert(#v <= resp.MAX_BULK, 'a value past MAX_BULK')\n"
    "  elseif t == 'number' then assert(v == math.floor(v) and math.abs(v) < 2^53, 'an integer out of range')\n"
    "  else assert(v == OK or v == null, 'a value of another kind') end\n"
    "end\n"
    "return function(input)\n"
    "  local first = input:byte(1) or 0\n"
    "  local step = first % 9 == 0 and #input or first % 9\n"
    "  local pos = 2\n"
    "  local function more()\n"
    "    if pos > #input then return nil, 'closed' end\n"
    "    local piece = input:sub(pos, pos + step - 1)\n"
    "    pos = pos + step\n"
    "    return piece\n"
    "  end\n"
    "  local value, err = resp.read(more)\n"
    "  if value == nil then assert(type(err) == 'string', 'no reason') return end\n"
    "  if value == false then assert(type(err) == 'string' and #err <= resp.MAX_LINE, 'an error line') return end\n"
    "  if type(value) == 'table' and value ~= OK and value ~= null then\n"
    "    assert(#value <= resp.MAX_ITEMS, 'an array past MAX_ITEMS')\n"
    "    for i = 1, #value do scalar(value[i]) end\n"
    "  else\n"
    "    scalar(value)\n"
    "  end\n"
    "end\n";

static lua_State *L;
static int check_ref;

static void start(void) {
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_pushstring(L, FALCON_LUA_DIR "/?.lua");
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    if (luaL_dostring(L, HARNESS) != LUA_OK) {
        fprintf(stderr, "fuzz_resp_lua: %s\n", lua_tostring(L, -1));
        __builtin_trap();
    }
    check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (L == NULL) start(); /* one state for the run: a fresh one per input would dominate the time */
    lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_resp_lua: %s\n", lua_tostring(L, -1));
        __builtin_trap();
    }
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
