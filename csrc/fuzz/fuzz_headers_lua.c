/* libFuzzer harness: a hostile header block turned into the Lua headers table (headers_push) and read
 * through its case-insensitive __index, as the engine reads X-Cs-Traceid, X-Ratelimit-* and Retry-After.
 * Repeated names are joined in Lua, so this covers what fuzz_headers cannot: the Lua side of parsing. */
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "../headers.h"

static lua_State *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (L == NULL) { /* one state for the run: a fresh one per input would dominate the time */
        L = luaL_newstate();
        headers_register(L);
    }
    int top = lua_gettop(L);
    headers_push(L, (const char *)data, size);
    if (lua_type(L, -1) != LUA_TTABLE) __builtin_trap();
    static const char *const names[] = {"x-cs-traceid", "X-RATELIMIT-REMAINING", "Retry-After", "content-type", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        lua_getfield(L, -1, names[i]);
        int t = lua_type(L, -1);
        if (t != LUA_TNIL && t != LUA_TSTRING) __builtin_trap();
        lua_pop(L, 1);
    }
    /* Every key is a non-empty name without ':' and every value a string. */
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        size_t nlen;
        const char *name = lua_tolstring(L, -2, &nlen);
        if (lua_type(L, -2) != LUA_TSTRING || nlen == 0 || memchr(name, ':', nlen) != NULL) __builtin_trap();
        if (lua_type(L, -1) != LUA_TSTRING) __builtin_trap();
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
