/* libFuzzer harness: a hostile header block turned into the Lua headers table (headers_push) and read
 * through its case-insensitive __index, as the engine reads X-Cs-Traceid, X-Ratelimit-* and Retry-After.
 * Repeated names are joined in Lua, so this covers what fuzz_headers cannot: the Lua side of parsing.
 * The table a transfer pushes, from the fields parsed once (headers_fields, fed in two pieces as lines
 * arrive), must be the same table. */
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "../headers.h"

static lua_State *L;

/* The table on top, against the one headers_push_fields makes of the same block read in two pieces. */
static void same_as_fields(const uint8_t *data, size_t size) {
    buffer block;
    buffer_init(&block);
    header_fields head;
    headers_fields_init(&head, &block);
    size_t half = size / 2;
    if (!buffer_append(&block, data, half) || !headers_fields_update(&head)) __builtin_trap();
    if (!buffer_append(&block, data + half, size - half)) __builtin_trap();
    /* a transfer's block ends its last line (libcurl hands whole lines, response.c ends each one) */
    if (size > 0 && data[size - 1] != '\n' && !buffer_append_char(&block, '\n')) __builtin_trap();
    if (!headers_fields_update(&head)) __builtin_trap();
    headers_push_fields(L, &head);
    int streamed = lua_gettop(L) - 1, fields = lua_gettop(L);
    for (int pass = 0; pass < 2; pass++) { /* every pair of one is in the other */
        int from = pass ? fields : streamed, to = pass ? streamed : fields;
        lua_pushnil(L);
        while (lua_next(L, from)) {
            lua_pushvalue(L, -2);
            lua_rawget(L, to);
            if (!lua_rawequal(L, -1, -2)) __builtin_trap();
            lua_pop(L, 2);
        }
    }
    lua_pop(L, 1);
    headers_fields_free(&head);
    buffer_free(&block);
}

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
    same_as_fields(data, size);
    lua_settop(L, top);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
