/* perform.h: client:perform, the blocking driver's exchange: one request of any kind (kinds.h) run to
 * its end on the client's own libcurl handle, on the stack of the call. The other drivers' entry points
 * are multi:add (multi.c) and client:exchange (exchange.c); all three prepare and finish through kinds.c.
 * It lives here, not in client.c, so that the client (which auth.c and kinds.c use) does not depend on
 * the kinds of exchange in turn. */
#ifndef FALCON_PERFORM_H
#define FALCON_PERFORM_H

#include <lua.h>

/* Adds perform to the client's methods (after client_register). */
void perform_register(lua_State *L);

/* Pushes client:perform's function, for the module's core.perform(client, kind, request): the blocking
 * driver takes it as its exchange, so that no Lua function stands between the engine and the core. */
void perform_push(lua_State *L);

#endif
