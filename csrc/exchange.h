/* exchange.h: one request/response over a socket the caller owns (the ngx_lua cosocket driver). The C
 * side builds the bytes to send and reads the bytes received; Lua only moves them. */
#ifndef FALCON_EXCHANGE_H
#define FALCON_EXCHANGE_H

#include <lua.h>

/* Adds exchange and transport to the client's methods, and the
 * exchange metatable. Called by luaopen_falcon_core after client_register. */
void exchange_register(lua_State *L);

#endif
