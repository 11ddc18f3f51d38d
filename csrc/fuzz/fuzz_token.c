/* libFuzzer harness: the token endpoint's answer (token.c, yajl with callbacks of its own) read from
 * hostile bytes. It must never crash, leak or leave a value on the Lua stack; a token it accepts must be
 * usable (token_usable) and be exactly what the core's general decoder (json_decode.c, the same yajl)
 * reads as the answer's access_token, with the same expires_in; text the decoder refuses as JSON must never
 * give a token. One input in three is wrapped in an answer's object first, so that the fuzzer spends its
 * time inside the fields the reader keeps. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "../buffer.h"
#include "../json_decode.h"
#include "../secret.h"
#include "../token.h"

static lua_State *L;

/* Decodes text with the general decoder; leaves its value (or its error) on the stack; 1 when decoded. */
static int decode(const char *text, size_t len) {
    lua_getfield(L, 1, "json_decode");
    lua_pushlstring(L, text, len);
    return lua_pcall(L, 1, 1, 0) == 0;
}

/* The decoded answer must say what token_read said: the same token, the same expires_in. */
static void agree(const token_response *tr) {
    if (!lua_istable(L, -1)) __builtin_trap();
    lua_getfield(L, -1, "access_token");
    size_t len;
    const char *token = lua_tolstring(L, -1, &len);
    if (token == NULL || len != strlen(tr->access_token) || memcmp(token, tr->access_token, len) != 0)
        __builtin_trap();
    lua_getfield(L, -2, "expires_in");
    if (lua_isnil(L, -1) != (tr->expires_in == -1 && !lua_isnumber(L, -1))) __builtin_trap();
    double decoded = lua_isnumber(L, -1) ? (double)lua_tonumber(L, -1) : -1;
    if (isfinite(decoded) && isfinite(tr->expires_in) && decoded != tr->expires_in) __builtin_trap();
    lua_pop(L, 2);
}

static void check(const char *text, size_t len) {
    int top = lua_gettop(L);
    token_response tr;
    enum token_status status = token_read(L, text, len, &tr);
    if (lua_gettop(L) != top) __builtin_trap();
    if (status != TOKEN_OK && tr.access_token != NULL) __builtin_trap();
    if (status == TOKEN_REFUSED && tr.why == NULL) __builtin_trap();
    int decoded = decode(text, len);
    if (status == TOKEN_OK) {
        if (!token_usable(tr.access_token, strlen(tr.access_token)) || !decoded) __builtin_trap();
        agree(&tr);
        secret_free(&tr.access_token);
    }
    lua_settop(L, top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (L == NULL) {
        L = luaL_newstate();
        lua_newtable(L); /* 1: the module table json_decode is registered in */
        json_register(L, 1);
    }
    check((const char *)data, size);
    if (size > 0 && data[0] % 3 == 0) {
        buffer answer;
        buffer_init(&answer);
        buffer_append_str(&answer, "{\"access_token\":");
        buffer_append(&answer, data + 1, size - 1);
        buffer_append_str(&answer, ",\"expires_in\":1799}");
        if (answer.failed) __builtin_trap();
        check(answer.data, answer.len);
        buffer_free(&answer);
    }
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
