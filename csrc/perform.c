/* perform.c: client:perform (see perform.h).
 *
 * The whole exchange happens inside one C call, on the Lua stack of the caller: the coroutine (or main
 * thread) that calls it is blocked until the answer is complete, which is what the blocking driver is
 * for. The request's Lua callbacks (progress, on_data) run on that same state, protected (transfer.c). */
#include <string.h>

#include "client.h"
#include "compat.h"
#include "kinds.h"
#include "perform.h"
#include "transfer.h"

#define PERFORM_MT "falcon.core.perform"

/* What one client:perform holds in C: the request and the result. A userdata, made before anything
 * is allocated, so that a memory error raised while the request is read or the answer pushed (Lua
 * allocates all along) leaves it all to __gc. */
typedef struct {
    prepared_request p;
    transfer_result rs;
} perform_record;

/* Frees what the record holds; runs again harmlessly after client_perform freed it (both free calls
 * reset what they free). */
static int perform_record_gc(lua_State *L) {
    perform_record *r = lua_touserdata(L, 1);
    kind_free(L, &r->p);
    transfer_result_free(&r->rs);
    return 0;
}

/* client:perform(kind, request) -> status, headers, body, info | nil, err (kinds.h). Raises only for a
 * bad argument (before anything is sent) or a memory error; every outcome of the exchange is returned. */
static int client_perform(lua_State *L) {
    falcon_client *c = client_check_idle(L, 1);
    perform_record *r = lua_newuserdata(L, sizeof *r);
    memset(r, 0, sizeof *r);
    transfer_request_init(&r->p.rq);
    luaL_setmetatable(L, PERFORM_MT);
    kind_init(L, 2, "client:perform", &r->p);
    int n = 2;
    if (kind_prepare(L, c, 3, &r->p)) {
        transfer_perform(L, c, &r->p.rq, &r->rs);
        n = kind_finish(L, c, &r->p, &r->rs);
    }
    /* Now rather than at the next collection: the request's references pin Lua values. */
    kind_free(L, &r->p);
    transfer_result_free(&r->rs);
    return n;
}

void perform_push(lua_State *L) {
    lua_pushcfunction(L, client_perform);
}

void perform_register(lua_State *L) {
    if (luaL_newmetatable(L, PERFORM_MT)) {
        lua_pushcfunction(L, perform_record_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    /* The client's methods live in its metatable's __index table (client.c); perform joins them. */
    static const luaL_Reg client_methods[] = {{"perform", client_perform}, {NULL, NULL}};
    luaL_getmetatable(L, CLIENT_MT);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, client_methods, 0);
    lua_pop(L, 2);
}
