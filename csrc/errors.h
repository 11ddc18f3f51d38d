/* errors.h: the one place that shapes the C core's errors. A caller's mistake is raised as
 * "falcon: <where>: <what>" (errors_raise and the argument checks below, which replace luaL_check*: their
 * "bad argument #1 to 'x'" shape never reaches a caller); a failed exchange is returned as nil and a
 * structured error object (errors_push, errors_push_curl), the same object whichever driver failed. */
#ifndef FALCON_ERRORS_H
#define FALCON_ERRORS_H

#include <curl/curl.h>
#include <lua.h>

#define ERROR_MT "falcon.core.error"

/* Pushes nil and an error table {kind, message, curl_code, reached_server}; returns 2.
 * kind is one of: dns, connect, timeout, tls, connection, aborted, file, proxy, transport. */
int errors_push_curl(lua_State *L, CURLcode code, const char *detail, const char *method, const char *path,
                     int reached_server);
int errors_push(lua_State *L, const char *kind, const char *message, int reached_server);
void errors_register(lua_State *L);
/* core.transport_error(kind, message, reached_server) -> error object (for failures found in Lua). */
int errors_lua_transport_error(lua_State *L);

/* Raises "falcon: <where>: <what>" at level 0 (the position would point into falcon, not at the caller).
 * fmt takes lua_pushfstring's conversions. where NULL: "falcon: <what>", for a client option that the
 * Lua side reports in that shape too. Never returns. */
int errors_raise(lua_State *L, const char *where, const char *fmt, ...);

/* Argument checks; each raises "falcon: <where>: bad argument '<name>' (<type> expected, got <type>)". */
void *errors_check_udata(lua_State *L, int idx, const char *tname, const char *where);
void errors_check_table(lua_State *L, int idx, const char *where, const char *name);
const char *errors_check_string(lua_State *L, int idx, const char *where, const char *name, size_t *len);
const char *errors_opt_string(lua_State *L, int idx, const char *where, const char *name, size_t *len);
lua_Number errors_check_number(lua_State *L, int idx, const char *where, const char *name);
lua_Number errors_opt_number(lua_State *L, int idx, lua_Number def, const char *where, const char *name);
/* A whole number (or def when nil) within lo..hi. */
lua_Integer errors_opt_integer(lua_State *L, int idx, lua_Integer def, lua_Integer lo, lua_Integer hi,
                               const char *where, const char *name);
/* The index in names (NULL-terminated) of the string at idx; raises listing the names otherwise. */
int errors_check_option(lua_State *L, int idx, const char *const names[], const char *where, const char *name);

#endif
