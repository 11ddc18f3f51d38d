/* kinds.h: the three kinds of exchange (an API request, a token request, a revoke). For each, how it is
 * prepared and how a finished transfer becomes Lua values: every driver path (client:perform on the
 * blocking handle, multi:add, client:exchange for sockets) goes through these, so the three cannot
 * differ in what a token response stores or what a failure returns. */
#ifndef FALCON_KINDS_H
#define FALCON_KINDS_H

#include <lua.h>

#include "buffer.h"
#include "client.h"
#include "transfer.h"

typedef enum { KIND_API, KIND_TOKEN, KIND_REVOKE } exchange_kind;

typedef struct {
    exchange_kind kind;
    transfer_request rq;
    buffer query; /* API requests: the encoded query */
    buffer form;  /* token and revoke: the secret form body, wiped when freed */
} prepared_request;

/* Reads the kind's name at idx ("api", "token" or "revoke") into an empty p; raises otherwise. */
void kind_init(lua_State *L, int idx, const char *where, prepared_request *p);

/* Fills p->rq: an API request from the request table at wire (raises naming a bad field), a token or
 * revoke request from the client's secrets. Returns 1, or pushes nil + error and returns 0. */
int kind_prepare(lua_State *L, falcon_client *c, int wire, prepared_request *p);

/* The finished exchange's values: status, headers, body, info (a token is stored in c, never pushed),
 * or nil, error. Returns how many were pushed. */
int kind_finish(lua_State *L, falcon_client *c, prepared_request *p, transfer_result *rs);

/* Frees whatever prepare made; safe after a raise and twice. */
void kind_free(lua_State *L, prepared_request *p);

#endif
