/* control.c: the torture harness's Lua module (require "torture_control"), over the controls of the
 * preloaded allocator (shim.c). It loads only where the shim is preloaded: its symbols come from there. */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "shim.h"

static const char *const lib_options[] = {"core", "lua", "yajl", "zlib", "curl", "other", "any", NULL};

static int lib_arg(lua_State *L, int idx) {
    int i = luaL_checkoption(L, idx, "any", lib_options);
    return i == SHIM_LIBS ? SHIM_ANY : i;
}

/* install(): this state's allocations go through the shim from now on. */
static int install(lua_State *L) {
    void *ud = NULL;
    lua_Alloc below = lua_getallocf(L, &ud);
    if (below != shim_lua_alloc) {
        shim_set_lua_alloc(below, ud);
        lua_setallocf(L, shim_lua_alloc, NULL);
    }
    return 0;
}

/* open(lib, at, run): lib "any" numbers all allocations; at 0 fails none. */
static int open_window(lua_State *L) {
    shim_open(lib_arg(L, 1), (long)luaL_optinteger(L, 2, 0), (int)luaL_optinteger(L, 3, 1));
    return 0;
}

/* close() -> failed, {core = n, lua = n, ..., any = total}, library of the first failed (or nil) */
static int close_window(lua_State *L) {
    long seen[SHIM_LIBS], total = 0;
    int fired_lib = SHIM_ANY;
    long fired = shim_close(seen, &fired_lib);
    lua_pushinteger(L, fired);
    lua_createtable(L, 0, SHIM_LIBS + 1);
    for (int i = 0; i < SHIM_LIBS; i++) {
        lua_pushinteger(L, seen[i]);
        lua_setfield(L, -2, shim_lib_name(i));
        total += seen[i];
    }
    lua_pushinteger(L, total);
    lua_setfield(L, -2, "any");
    if (fired_lib == SHIM_ANY) lua_pushnil(L);
    else lua_pushstring(L, shim_lib_name(fired_lib));
    return 3;
}

/* live() -> C blocks of the last window still allocated, true when there were too many to keep */
static int live(lua_State *L) {
    int overflowed = 0;
    lua_pushinteger(L, shim_live(&overflowed));
    lua_pushboolean(L, overflowed);
    return 2;
}

/* describe(n) -> up to n lines, one per live block of the last window */
static int describe(lua_State *L) {
    long limit = (long)luaL_optinteger(L, 1, 10);
    char line[2048];
    lua_newtable(L);
    for (long k = 0; k < limit && shim_describe(k, line, sizeof line); k++) {
        lua_pushstring(L, line);
        lua_rawseti(L, -2, (int)k + 1);
    }
    return 1;
}

/* where() -> the call stack of the first allocation failed in the last window */
static int where(lua_State *L) {
    char line[4096];
    shim_fired_where(line, sizeof line);
    lua_pushstring(L, line);
    return 1;
}

/* frames(on): blocks allocated from now on keep their call stack */
static int frames(lua_State *L) {
    shim_capture_frames(lua_toboolean(L, 1));
    return 0;
}

static void on_alarm(int sig) {
    static const char line[] = "HANG\n";
    (void)sig;
    if (write(STDOUT_FILENO, line, sizeof line - 1) < 0) _exit(4);
    _exit(3);
}

/* watchdog(seconds): a point still running after that many seconds ends the process, saying HANG (a
 * wedged call waits forever); 0 disarms it. */
static int watchdog(lua_State *L) {
    signal(SIGALRM, on_alarm);
    alarm((unsigned)luaL_checkinteger(L, 1));
    return 0;
}

int luaopen_torture_control(lua_State *L) {
    static const struct {
        const char *name;
        lua_CFunction fn;
    } functions[] = {{"install", install}, {"open", open_window}, {"close", close_window},
                     {"live", live},       {"describe", describe}, {"frames", frames},
                     {"watchdog", watchdog}, {"where", where}};
    lua_createtable(L, 0, 8);
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
        lua_pushcfunction(L, functions[i].fn);
        lua_setfield(L, -2, functions[i].name);
    }
    return 1;
}
