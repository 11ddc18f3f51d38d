/* clock.h: core.now() and core.sleep(). */
#ifndef FALCON_CLOCK_H
#define FALCON_CLOCK_H

#include <lua.h>

/* Adds now and sleep to the module table at index module. */
void clock_register(lua_State *L, int module);

#endif
