/* auth.h: the token and revoke exchanges, split into prepare/finish so that any driver can run them. */
#ifndef FALCON_AUTH_H
#define FALCON_AUTH_H

#include <lua.h>

#include "buffer.h"
#include "client.h"
#include "transfer.h"

/* Fill rq for POST /oauth2/token or /oauth2/revoke; the secret form body goes in form (wiped by
 * auth_free). Return 1, or push nil + error and return 0 (no credentials, no token, out of memory). */
int auth_token_prepare(lua_State *L, falcon_client *c, transfer_request *rq, buffer *form);
int auth_revoke_prepare(lua_State *L, falcon_client *c, transfer_request *rq, buffer *form);

/* Push the outcome (see client:authenticate / client:revoke); the token is kept in c, never pushed. */
int auth_token_finish(lua_State *L, falcon_client *c, transfer_request *rq, transfer_result *rs);
int auth_revoke_finish(lua_State *L, falcon_client *c, transfer_request *rq, transfer_result *rs);

void auth_free(transfer_request *rq, buffer *form);

int auth_lua_authenticate(lua_State *L);
int auth_lua_revoke(lua_State *L);

#endif
