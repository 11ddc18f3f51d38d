/* kinds.c: one prepare and one finish per kind of exchange, for every driver (kinds.h).
 *
 * The only file that knows there are three kinds: the drivers call kind_prepare before they send and
 * kind_finish once the answer is complete, and never look at the kind themselves. So a token answer is
 * read and stored by the same code (auth.c) whether it came through libcurl's easy handle, a multi
 * handle or an nginx cosocket. */
#include "auth.h"
#include "errors.h"
#include "kinds.h"
#include "request.h"

static const char *const kind_names[] = {"api", "token", "revoke", NULL};

/* The struct is initialised before the kind is checked: a bad kind raises, and the caller's __gc then
 * frees an empty request (kind_free) rather than garbage. */
void kind_init(lua_State *L, int idx, const char *where, prepared_request *p) {
    transfer_request_init(&p->rq);
    buffer_init(&p->query);
    buffer_init(&p->form);
    p->kind = (exchange_kind)errors_check_option(L, idx, kind_names, where, "kind");
}

/* Token and revoke requests are built from the client's secrets alone (no Lua table); an API request
 * from the Lua request table, which may raise for a bad field before anything is sent. */
int kind_prepare(lua_State *L, falcon_client *c, int wire, prepared_request *p) {
    if (p->kind == KIND_TOKEN) return auth_token_prepare(L, c, &p->rq, &p->form);
    if (p->kind == KIND_REVOKE) return auth_revoke_prepare(L, c, &p->rq, &p->form);
    if (request_from_lua(L, wire, &p->rq, &p->query)) return 1;
    errors_push(L, "transport", "out of memory while building the request", 0);
    return 0;
}

/* Returns how many values were pushed (status, headers, body, info; or nil, error). The answer's body
 * may be taken over (auth.c wipes a token answer's), so rs is spent after this. */
int kind_finish(lua_State *L, falcon_client *c, prepared_request *p, transfer_result *rs) {
    if (p->kind == KIND_API) return transfer_push(L, &p->rq, rs, 1);
    /* A token for a client closed meanwhile has nowhere to go. */
    if (client_closed(c)) return errors_push(L, "aborted", "the client was closed", 0);
    if (p->kind == KIND_TOKEN) return auth_token_finish(L, c, &p->rq, rs);
    return auth_revoke_finish(L, c, &p->rq, rs);
}

/* The form held the client secret (or the token being revoked): wiped, not just freed. */
void kind_free(lua_State *L, prepared_request *p) {
    request_free(L, &p->rq, &p->query);
    buffer_wipe_free(&p->form);
}
