/* multi.h: many transfers in flight on one curl multi handle (driven by Lua coroutines). */
#ifndef FALCON_MULTI_H
#define FALCON_MULTI_H

#include <lua.h>

void multi_register(lua_State *L);
int multi_lua_new(lua_State *L);

#endif
