/* auth.h: the token and revoke exchanges, split into prepare/finish so that any driver can run them. */
#ifndef FALCON_AUTH_H
#define FALCON_AUTH_H

#include <lua.h>

#include "buffer.h"
#include "client.h"
#include "transfer.h"

/* Fill rq for POST /oauth2/token or /oauth2/revoke; the secret form body goes in form (wiped by
 * kind_free, kinds.c). Return 1, or push nil + error and return 0 (no credentials, no token, out of memory). */
int auth_token_prepare(lua_State *L, falcon_client *c, transfer_request *rq, buffer *form);
int auth_revoke_prepare(lua_State *L, falcon_client *c, transfer_request *rq, buffer *form);

/* Push the outcome (kind_finish); the token is kept in c, never pushed. */
int auth_token_finish(lua_State *L, falcon_client *c, transfer_request *rq, transfer_result *rs);
int auth_revoke_finish(lua_State *L, falcon_client *c, transfer_request *rq, transfer_result *rs);

#endif
