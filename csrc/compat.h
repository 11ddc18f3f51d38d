/* compat.h: the only place that knows Lua 5.1/LuaJIT and 5.4 differ. */
#ifndef FALCON_COMPAT_H
#define FALCON_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM == 501
#define falcon_rawlen(L, i) lua_objlen((L), (i))
/* LuaJIT (2.1) ships luaL_setfuncs/luaL_newlib; plain 5.1 headers do not. */
#ifndef luaL_newlibtable
#define FALCON_NEED_SETFUNCS 1
void falcon_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
void *falcon_testudata(lua_State *L, int ud, const char *tname);
#define luaL_setfuncs falcon_setfuncs
#define luaL_testudata falcon_testudata
#define luaL_setmetatable(L, t) (luaL_getmetatable((L), (t)), lua_setmetatable((L), -2))
#define luaL_newlibtable(L, l) lua_createtable((L), 0, sizeof(l) / sizeof((l)[0]) - 1)
#define luaL_newlib(L, l) (luaL_newlibtable((L), (l)), luaL_setfuncs((L), (l), 0))
#endif
#else
#define falcon_rawlen(L, i) lua_rawlen((L), (i))
#endif

/* True when the value at idx is a number with no fractional part. */
int falcon_isintegral(lua_State *L, int idx);

/* Calls fn(L) with ud as its only argument (a light userdata) in protected mode, the call itself
 * included (LuaJIT's lua_pushcfunction allocates, 5.2+'s does not): for a C callback of a library,
 * which no Lua error may unwind. Returns lua_pcall's status; on error the error object is on top. */
int falcon_cpcall(lua_State *L, lua_CFunction fn, void *ud);

#endif
