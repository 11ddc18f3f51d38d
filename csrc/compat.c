/* compat.c: helpers missing from older Lua APIs (see compat.h). */
#include <math.h>

#include "compat.h"

/* Where a count or a size comes from Lua: 3.0 is 3 on every VM, 3.5 is refused. isfinite first, since
 * floor(inf) == inf would call infinity whole. */
int falcon_isintegral(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx)) return 1;
#endif
    if (lua_type(L, idx) != LUA_TNUMBER) return 0;
    lua_Number n = lua_tonumber(L, idx);
    return isfinite(n) && floor(n) == n;
}

int falcon_cpcall(lua_State *L, lua_CFunction fn, void *ud) {
#if LUA_VERSION_NUM == 501
    /* 5.1 and LuaJIT: lua_cpcall makes fn's closure inside the protected call, so even that allocation
     * failing is caught. */
    return lua_cpcall(L, fn, ud);
#else
    lua_pushcfunction(L, fn); /* a light C function: nothing allocated */
    lua_pushlightuserdata(L, ud);
    return lua_pcall(L, 1, 0, 0);
#endif
}

/* Plain Lua 5.1 only (LuaJIT and 5.2+ have both): what luaL_setfuncs and luaL_testudata do there, so
 * the rest of the core is written once, against the 5.2 API. */
#ifdef FALCON_NEED_SETFUNCS
void falcon_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
    luaL_checkstack(L, nup, "too many upvalues");
    for (; l->name != NULL; l++) {
        for (int i = 0; i < nup; i++) lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

/* NULL rather than a raise for a value of another type: callers decide the error's wording (errors.c). */
void *falcon_testudata(lua_State *L, int ud, const char *tname) {
    void *p = lua_touserdata(L, ud);
    if (p == NULL || !lua_getmetatable(L, ud)) return NULL;
    luaL_getmetatable(L, tname);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}
#endif
