/* exchange.h: one request/response over a socket the caller owns (the ngx_lua cosocket driver). The C
 * side builds the bytes to send and reads the bytes received; Lua only moves them. */
#ifndef FALCON_EXCHANGE_H
#define FALCON_EXCHANGE_H

#include <lua.h>

/* Adds exchange, exchange_token, exchange_revoke and transport to the client's methods, and the
 * exchange metatable. Called by luaopen_falcon_core after client_register. */
void exchange_register(lua_State *L);

/* core.transport_error(kind, detail, method, path, reached_server) -> nil, err: the error object
 * libcurl's failure of the same kind gives (errors.c). */
int exchange_lua_transport_error(lua_State *L);

#endif
