/* query.c: encoding query strings and form bodies.
 *
 * One encoder for both, with application/x-www-form-urlencoded's rules (space as '+', everything but
 * RFC 3986's unreserved characters percent-encoded): the API reads a query the way it reads a form, and
 * FalconPy (through Python's requests) sends both this way, so filters with spaces, quotes and colons
 * reach the API as they do from FalconPy. Pairs come as a list, not a map, so their order is the
 * caller's and a key may repeat (a `multi` collection format). */
#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "errors.h"
#include "query.h"

/* RFC 3986 section 2.3; spelled out rather than isalnum(), which depends on the locale. */
static int is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Appends s escaped; the buffer's failure flag says whether it all went in. Every byte, NUL included, is
 * either unreserved or escaped, so the output never holds a byte that could end the query or a header. */
int query_escape(buffer *out, const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c)) {
            buffer_append_char(out, (char)c);
        } else if (c == ' ') {
            buffer_append_char(out, '+');
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            buffer_append(out, esc, 3);
        }
    }
    return !out->failed;
}

/* Raises before anything is allocated, so a bad pair never leaks a half-built buffer. */
static void query_check(lua_State *L, int idx, const char *where) {
    size_t count = falcon_rawlen(L, idx);
    for (size_t i = 1; i <= count; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (lua_type(L, -1) != LUA_TTABLE)
            errors_raise(L, where, "bad query pair #%d ({name, value} table expected, got %s)", (int)i,
                       luaL_typename(L, -1));
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        /* An empty name would send "=value", which servers read as nothing or as an error. */
        if (lua_type(L, -2) != LUA_TSTRING || falcon_rawlen(L, -2) == 0)
            errors_raise(L, where, "bad query pair #%d (non-empty string name expected, got %s)", (int)i,
                       luaL_typename(L, -2));
        int t = lua_type(L, -1);
        if (t != LUA_TNIL && t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN)
            errors_raise(L, where, "bad query pair #%d '%s' (string, number or boolean expected, got %s)", (int)i,
                       lua_tostring(L, -2), luaL_typename(L, -1));
        lua_pop(L, 3);
    }
}

/* Integral numbers are written without a fraction, so 10 never becomes "10.0". */
static void append_value(lua_State *L, int idx, buffer *out) {
    char num[64];
    int w;
    size_t len;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, idx)) {
            w = snprintf(num, sizeof num, LUA_INTEGER_FMT, lua_tointeger(L, idx));
            buffer_append(out, num, (size_t)w);
            break;
        }
#endif
        /* A float holding a whole number below 2^53 is written as one ("%.0f" is exact there); beyond,
         * or with a fraction, "%.17g" round-trips the double. */
        if (falcon_isintegral(L, idx) && lua_tonumber(L, idx) < 9007199254740992.0 &&
            lua_tonumber(L, idx) > -9007199254740992.0)
            w = snprintf(num, sizeof num, "%.0f", (double)lua_tonumber(L, idx));
        else
            w = snprintf(num, sizeof num, "%.17g", (double)lua_tonumber(L, idx));
        buffer_append(out, num, (size_t)w);
        break;
    case LUA_TBOOLEAN:
        /* Python's requests sends True as "True"; the API reads lowercase. */
        buffer_append_str(out, lua_toboolean(L, idx) ? "true" : "false");
        break;
    default:
        s = lua_tolstring(L, idx, &len);
        query_escape(out, s, len);
    }
}

/* Checks every pair first (raising names the pair), then appends; a pair whose value is nil is left out,
 * so a caller can build the list without testing each optional parameter. out's failure flag tells
 * whether memory ran out. */
void query_build(lua_State *L, int idx, buffer *out, const char *where) {
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    query_check(L, idx, where);
    size_t count = falcon_rawlen(L, idx);
    for (size_t i = 1; i <= count; i++) {
        lua_rawgeti(L, idx, (int)i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        if (!lua_isnil(L, -1)) {
            size_t nlen;
            const char *name = lua_tolstring(L, -2, &nlen);
            if (out->len > 0) buffer_append_char(out, '&');
            query_escape(out, name, nlen);
            buffer_append_char(out, '=');
            append_value(L, lua_gettop(L), out);
        }
        lua_pop(L, 3);
    }
}

#define QUERY_BUFFER_MT "falcon.core.query_buffer"

/* The buffer's bytes are a query, no secret: freed, not wiped. Safe after query_lua_encode freed it. */
static int query_buffer_gc(lua_State *L) {
    buffer_free(lua_touserdata(L, 1));
    return 0;
}

/* core.encode_query(pairs) -> the encoded string: the Lua side's way to the same encoding, so that the
 * command's --debug lines show a query exactly as it is sent (cli/debug.lua). */
int query_lua_encode(lua_State *L) {
    errors_check_table(L, 1, "core.encode_query", "pairs");
    /* The encoded bytes are in C memory while Lua allocates their string: a userdata owns them, so that
     * a memory error raised meanwhile leaves them to __gc. */
    buffer *out = lua_newuserdata(L, sizeof *out);
    buffer_init(out);
    luaL_setmetatable(L, QUERY_BUFFER_MT);
    query_build(L, 1, out, "core.encode_query");
    if (out->failed) return errors_raise(L, "core.encode_query", "out of memory");
    lua_pushlstring(L, out->data ? out->data : "", out->len);
    buffer_free(out);
    return 1;
}

void query_register(lua_State *L) {
    if (luaL_newmetatable(L, QUERY_BUFFER_MT)) {
        lua_pushcfunction(L, query_buffer_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
}
