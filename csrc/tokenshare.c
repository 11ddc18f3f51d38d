/* tokenshare.c: the one exception to "the token never reaches Lua". With shared_dict, nginx workers
 * share one token through a lua_shared_dict, so the token must be copied into (and out of) shared
 * memory, which only Lua can reach. A client opts in once with client:share_tokens(); before that,
 * export_token and adopt_token refuse. */
#include <string.h>

#include "client.h"
#include "compat.h"
#include "errors.h"
#include "secret.h"
#include "token.h"
#include "tokenshare.h"

/* Registry key of a weak-keyed set of the clients that opted in. Kept in the registry, not in the client
 * struct, so that opting in is a fact Lua code cannot forge by writing a field, and weak so that the set
 * never keeps a client alive. The address of the constant is the key: unique within the process. */
static const char SHARING_KEY = 'S';

/* Pushes the set, making it on first use (a state that never shares tokens never has one). */
static void push_sharing(lua_State *L) {
    lua_pushlightuserdata(L, (void *)&SHARING_KEY);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushlightuserdata(L, (void *)&SHARING_KEY);
        lua_pushvalue(L, -2);
        lua_rawset(L, LUA_REGISTRYINDEX);
    }
}

/* The client at 1 when it opted in; raises otherwise: exporting the token of a client that did not ask
 * for it would put it in Lua for nothing. */
static falcon_client *sharing_client(lua_State *L, const char *what) {
    falcon_client *c = client_check(L, 1);
    push_sharing(L);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    int on = lua_toboolean(L, -1);
    lua_pop(L, 2);
    if (!on) errors_raise(L, what, "only for a client that shares its token (shared_dict)");
    return c;
}

/* client:share_tokens(): one way; a handed-in (static) token is never shared. */
static int client_share_tokens(lua_State *L) {
    falcon_client *c = client_check(L, 1);
    if (c->token_static) return errors_raise(L, "client:share_tokens", "the token was handed in (access_token)");
    push_sharing(L);
    lua_pushvalue(L, 1);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return 0;
}

/* client:export_token() -> token, expires_at | nil. The one place the core pushes a token: the string is
 * written to the shared dict at once (lua/falcon/client/tokenshare.lua); Lua cannot wipe it, which README says. */
static int client_export_token(lua_State *L) {
    falcon_client *c = sharing_client(L, "client:export_token");
    if (c->token == NULL) return 0;
    lua_pushstring(L, c->token);
    lua_pushnumber(L, c->token_expires_at);
    return 2;
}

/* client:adopt_token(token, expires_at): the token another worker fetched. Shared memory is input like
 * any other: the token is checked as a header line would be (token_usable), and a bad one raises, since
 * only this SDK writes that dict entry. */
static int client_adopt_token(lua_State *L) {
    falcon_client *c = sharing_client(L, "client:adopt_token");
    size_t len;
    const char *token = errors_check_string(L, 2, "client:adopt_token", "token", &len);
    lua_Number expires_at = errors_check_number(L, 3, "client:adopt_token", "expires_at");
    if (!token_usable(token, len))
        return errors_raise(L, "client:adopt_token", "bad argument 'token' (a bearer token (RFC 6750 characters) expected)");
    char *copy = secret_dup(token, len);
    if (copy == NULL) return errors_raise(L, "client:adopt_token", "out of memory");
    client_forget_token(c);
    c->token = copy;
    c->token_expires_at = (double)expires_at;
    return 0;
}

void tokenshare_register(lua_State *L) {
    static const luaL_Reg methods[] = {{"share_tokens", client_share_tokens},
                                       {"export_token", client_export_token},
                                       {"adopt_token", client_adopt_token},
                                       {NULL, NULL}};
    luaL_getmetatable(L, CLIENT_MT);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}
