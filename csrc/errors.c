/* errors.c: raised errors ("falcon: <where>: <what>") and returned ones (structured transport errors).
 * Messages name what failed, never a secret.
 *
 * The split follows luasocket's: a caller's mistake (a bad argument, a closed object) is raised, because
 * only a code change fixes it; what a peer did (refused, timed out, answered garbage) is returned as nil
 * and an error object, because a program must be able to handle it without pcall. The error object is
 * one table shape, with one metatable, for every driver: the retry policy (base/policy.lua) reads kind and
 * reached_server, so a driver that shaped them differently would retry differently. */
#include <stdarg.h>
#include <string.h>

#include "compat.h"
#include "errors.h"

/* The kind a CURLcode is reported as (README: transport_error.kind). Kinds are for the caller to act on:
 * "dns", "connect" and "proxy" say where the way to the server broke, "tls" that retrying will not help
 * until a setting changes, "timeout" and "connection" that the server may have the request. Whether a
 * request is sent again is decided on reached_server instead (base/policy.lua), which the driver knows
 * exactly. Codes not listed are "transport". */
static const char *kind_of(CURLcode code) {
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST: return "dns";
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_PROXY: return "proxy";
    case CURLE_COULDNT_CONNECT: return "connect";
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED: return "tls";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING: return "connection";
    case CURLE_ABORTED_BY_CALLBACK: return "aborted";
    case CURLE_FILESIZE_EXCEEDED: return "too_large";
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
    case CURLE_FILE_COULDNT_READ_FILE: return "file";
    default: return "transport";
    }
}

/* Pushes nil and the error table; Lua allocates here, so a memory error may be raised instead (the
 * callers own nothing that would leak by it: their C memory belongs to a userdata). */
int errors_push(lua_State *L, const char *kind, const char *message, int reached_server) {
    lua_pushnil(L);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    lua_pushboolean(L, reached_server);
    lua_setfield(L, -2, "reached_server");
    luaL_setmetatable(L, ERROR_MT);
    return 2;
}

int errors_push_curl(lua_State *L, CURLcode code, const char *detail, const char *method, const char *path,
                     int reached_server) {
    const char *kind = kind_of(code);
    /* Our own detail (a callback's failure, a broken length) says more than libcurl's generic text. */
    const char *what = detail != NULL && detail[0] != '\0' ? detail : curl_easy_strerror(code);
    /* The one failure a user fixes by an option: say which. */
    if (code == CURLE_PEER_FAILED_VERIFICATION)
        lua_pushfstring(L, "tls error: certificate verification failed: %s (%s %s); if the server's CA is private, "
                           "give ca_bundle = <CA file>", what, method, path);
    else
        lua_pushfstring(L, "%s error: %s (%s %s)", kind, what, method, path);
    const char *message = lua_tostring(L, -1);
    errors_push(L, kind, message, reached_server);
    /* The raw code too, for a caller that wants libcurl's exact reason (and for the specs, which check
     * that the cosocket driver reports the code libcurl would). */
    lua_pushinteger(L, (lua_Integer)code);
    lua_setfield(L, -2, "curl_code");
    lua_remove(L, -3); /* the formatted message */
    return 2;
}

/* core.transport_error(kind, message, reached_server) -> the error object of a failed exchange, for a
 * failure the engine finds itself (no credentials): the same metatable and fields as the core's own. */
int errors_lua_transport_error(lua_State *L) {
    static const char *const kinds[] = {"auth", "dns", "connect", "timeout", "tls", "connection", "aborted",
                                        "too_large", "file", "proxy", "transport", "rate_limit", NULL};
    const char *kind = kinds[errors_check_option(L, 1, kinds, "core.transport_error", "kind")];
    const char *message = errors_check_string(L, 2, "core.transport_error", "message", NULL);
    errors_push(L, kind, message, lua_toboolean(L, 3));
    return 1;
}

/* tostring(err) is its message, so that error(err) and print(err) read as text. */
static int error_tostring(lua_State *L) {
    lua_getfield(L, 1, "message");
    return 1;
}

/* The error object is a plain table with a metatable: Lua code reads err.kind and err.message directly,
 * and an APIError (base/errors.lua) carries the same table as its transport_error. */
void errors_register(lua_State *L) {
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}

/* Formats with lua_pushvfstring (not vsnprintf): no fixed buffer to truncate a long route or name, and
 * the same conversions as the Lua side's messages. */
int errors_raise(lua_State *L, const char *where, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const char *what = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    if (where != NULL) lua_pushfstring(L, "falcon: %s: %s", where, what);
    else lua_pushfstring(L, "falcon: %s", what);
    return lua_error(L);
}

/* The checks below replace luaL_check*: theirs would raise "bad argument #1 to 'x'", a position the
 * caller of a method cannot map to a name. Each names the argument instead. */
static int bad_type(lua_State *L, int idx, const char *where, const char *name, const char *expected) {
    return errors_raise(L, where, "bad argument '%s' (%s expected, got %s)", name, expected, luaL_typename(L, idx));
}

/* Methods are called as obj:method(...), so a wrong object is a wrong 'self'. */
void *errors_check_udata(lua_State *L, int idx, const char *tname, const char *where) {
    void *p = luaL_testudata(L, idx, tname);
    if (p == NULL) bad_type(L, idx, where, "self", tname);
    return p;
}

void errors_check_table(lua_State *L, int idx, const char *where, const char *name) {
    if (lua_type(L, idx) != LUA_TTABLE) bad_type(L, idx, where, name, "table");
}

/* A number is accepted where a string is (lua_isstring), as Lua's own functions do; the returned pointer
 * is Lua's and lives as long as the value at idx. */
const char *errors_check_string(lua_State *L, int idx, const char *where, const char *name, size_t *len) {
    if (!lua_isstring(L, idx)) bad_type(L, idx, where, name, "string");
    return lua_tolstring(L, idx, len);
}

const char *errors_opt_string(lua_State *L, int idx, const char *where, const char *name, size_t *len) {
    if (lua_isnoneornil(L, idx)) {
        if (len != NULL) *len = 0;
        return NULL;
    }
    return errors_check_string(L, idx, where, name, len);
}

lua_Number errors_check_number(lua_State *L, int idx, const char *where, const char *name) {
    if (lua_type(L, idx) != LUA_TNUMBER) bad_type(L, idx, where, name, "number");
    return lua_tonumber(L, idx);
}

lua_Number errors_opt_number(lua_State *L, int idx, lua_Number def, const char *where, const char *name) {
    return lua_isnoneornil(L, idx) ? def : errors_check_number(L, idx, where, name);
}

/* Compared as lua_Number before the cast: casting a float outside lua_Integer's range is undefined. */
lua_Integer errors_opt_integer(lua_State *L, int idx, lua_Integer def, lua_Integer lo, lua_Integer hi,
                               const char *where, const char *name) {
    if (lua_isnoneornil(L, idx)) return def;
    lua_Number n = errors_check_number(L, idx, where, name);
    if (!falcon_isintegral(L, idx) || n < (lua_Number)lo || n > (lua_Number)hi)
        errors_raise(L, where, "bad argument '%s' (whole number between %d and %d expected)", name, (int)lo, (int)hi);
    return (lua_Integer)n;
}

int errors_check_option(lua_State *L, int idx, const char *const names[], const char *where, const char *name) {
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
    for (int i = 0; s != NULL && names[i] != NULL; i++)
        if (strcmp(names[i], s) == 0) return i;
    /* Not one of them: the error lists every choice, so a typo is fixed without reading the source. */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; names[i] != NULL; i++) {
        if (i > 0) luaL_addstring(&b, ", ");
        luaL_addchar(&b, '\'');
        luaL_addstring(&b, names[i]);
        luaL_addchar(&b, '\'');
    }
    luaL_pushresult(&b);
    return errors_raise(L, where, "bad argument '%s' (one of %s expected, got %s)", name, lua_tostring(L, -1),
                        s != NULL ? s : luaL_typename(L, idx));
}
