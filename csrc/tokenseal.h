/* tokenseal.h: the client's token sealed for a fleet's shared store (Redis), and unsealed from it. */
#ifndef FALCON_TOKENSEAL_H
#define FALCON_TOKENSEAL_H

#include <lua.h>

/* Adds seal_token, adopt_sealed and fleet_id to the client's methods. */
void tokenseal_register(lua_State *L);

#endif
