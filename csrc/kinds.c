/* kinds.c: one prepare and one finish per kind of exchange, for every driver (kinds.h). */
#include "auth.h"
#include "errors.h"
#include "kinds.h"
#include "request.h"

static const char *const kind_names[] = {"api", "token", "revoke", NULL};

void kind_init(lua_State *L, int idx, const char *where, prepared_request *p) {
    transfer_request_init(&p->rq);
    buffer_init(&p->query);
    buffer_init(&p->form);
    p->kind = (exchange_kind)errors_check_option(L, idx, kind_names, where, "kind");
}

int kind_prepare(lua_State *L, falcon_client *c, int wire, prepared_request *p) {
    if (p->kind == KIND_TOKEN) return auth_token_prepare(L, c, &p->rq, &p->form);
    if (p->kind == KIND_REVOKE) return auth_revoke_prepare(L, c, &p->rq, &p->form);
    if (request_from_lua(L, wire, &p->rq, &p->query)) return 1;
    errors_push(L, "transport", "out of memory while building the request", 0);
    return 0;
}

int kind_finish(lua_State *L, falcon_client *c, prepared_request *p, transfer_result *rs) {
    if (p->kind == KIND_API) return transfer_push(L, &p->rq, rs, 1);
    /* A token for a client closed meanwhile has nowhere to go. */
    if (client_closed(c)) return errors_push(L, "aborted", "the client was closed", 0);
    if (p->kind == KIND_TOKEN) return auth_token_finish(L, c, &p->rq, rs);
    return auth_revoke_finish(L, c, &p->rq, rs);
}

void kind_free(lua_State *L, prepared_request *p) {
    request_free(L, &p->rq, &p->query);
    buffer_wipe_free(&p->form);
}
