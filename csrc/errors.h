/* errors.h: the one place that turns transport failures into structured Lua error objects. */
#ifndef FALCON_ERRORS_H
#define FALCON_ERRORS_H

#include <curl/curl.h>
#include <lua.h>

/* Pushes nil and an error table {kind, message, curl_code, reached_server}; returns 2.
 * kind is one of: dns, connect, timeout, tls, connection, aborted, file, proxy, transport. */
int errors_push_curl(lua_State *L, CURLcode code, const char *detail, const char *method, const char *path,
                     int reached_server);
int errors_push(lua_State *L, const char *kind, const char *message, int reached_server);
void errors_register(lua_State *L);

#endif
