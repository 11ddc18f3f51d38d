/* libFuzzer harness: the JSON decoder (json_decode.c over yajl) fed hostile bytes, as one document and as
 * a newline-delimited stream, whole and split at a point the first byte picks, under small limits. It
 * must never crash or leak, must agree with itself however the input is split, and must leave the Lua
 * stack as it found it. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "../buffer.h"
#include "../json_decode.h"

static lua_State *L;

/* A canonical text of a value, arrays told from objects by their mark (keys in traversal order: the
 * same table contents give the same order within one state only, so objects are hashed by their size). */
static void describe(lua_State *S, int idx, buffer *out, int depth) {
    char num[64];
    idx = idx < 0 ? lua_gettop(S) + idx + 1 : idx;
    switch (lua_type(S, idx)) {
    case LUA_TNUMBER:
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(S, idx)) snprintf(num, sizeof num, "i%lld", (long long)lua_tointeger(S, idx));
        else
#endif
            snprintf(num, sizeof num, "f%.17g", (double)lua_tonumber(S, idx));
        buffer_append_str(out, num);
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(S, idx, &len);
        buffer_append_char(out, '"');
        buffer_append(out, s, len);
        buffer_append_char(out, '"');
        break;
    }
    case LUA_TBOOLEAN: buffer_append_str(out, lua_toboolean(S, idx) ? "true" : "false"); break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(S, idx) != NULL) __builtin_trap();
        buffer_append_str(out, "null");
        break;
    case LUA_TTABLE: {
        int array = lua_getmetatable(S, idx);
        if (array) lua_pop(S, 1);
        if (depth > 64) __builtin_trap(); /* the limit below is 32 */
        luaL_checkstack(S, 4, "describe"); /* a key and a value per level, as the decoder itself checks */
        buffer_append_char(out, array ? '[' : '{');
        size_t n = 0;
        lua_pushnil(S);
        while (lua_next(S, idx)) {
            n++;
            if (array) describe(S, -1, out, depth + 1);
            lua_pop(S, 1);
        }
        if (array && (size_t)lua_rawlen(S, idx) != n) __builtin_trap(); /* an array has no holes */
        snprintf(num, sizeof num, "#%zu", n);
        buffer_append_str(out, num);
        buffer_append_char(out, array ? ']' : '}');
        break;
    }
    default: __builtin_trap();
    }
}

/* Decodes data (whole, or in two pieces split at cut) and describes every value and the outcome. */
static void run(const char *data, size_t size, size_t cut, int many, buffer *out) {
    json_limits limits = {32, 4096, 512, "max_"};
    int top = lua_gettop(L);
    json_decoder *d = json_decoder_push(L, &limits, many);
    enum json_status status = json_decoder_feed(d, data, cut);
    while (json_decoder_pull(d, L)) {
        describe(L, -1, out, 0);
        lua_pop(L, 1);
    }
    if (status == JSON_OK) status = json_decoder_feed(d, data + cut, size - cut);
    if (status == JSON_OK) status = json_decoder_finish(d);
    while (json_decoder_pull(d, L)) {
        describe(L, -1, out, 0);
        lua_pop(L, 1);
    }
    buffer_append_char(out, '0' + (char)status);
    if ((status == JSON_OK) != (json_decoder_error(d) == NULL)) __builtin_trap();
    lua_settop(L, top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (L == NULL) {
        L = luaL_newstate();
        lua_newtable(L);
        json_register(L, lua_gettop(L));
    }
    int many = data[0] & 1;
    const char *text = (const char *)data + 1;
    size--;
    size_t cut = size ? (size_t)data[0] % (size + 1) : 0;
    buffer whole, split;
    buffer_init(&whole);
    buffer_init(&split);
    run(text, size, size, many, &whole);
    run(text, size, cut, many, &split);
    /* Splitting never changes the values, nor whether decoding succeeded. A failure's position inside a
     * stream may differ only for the limit on one value's size, counted per piece. */
    if (whole.failed || split.failed) __builtin_trap();
    if (whole.len != split.len || memcmp(whole.data, split.data, whole.len) != 0) {
        int size_limited = whole.len > 0 && split.len > 0 &&
                           (whole.data[whole.len - 1] == '0' + JSON_LIMIT || split.data[split.len - 1] == '0' + JSON_LIMIT);
        if (!size_limited) __builtin_trap();
    }
    buffer_free(&whole);
    buffer_free(&split);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
