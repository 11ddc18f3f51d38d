/* exchange.c: the exchange userdata of the socket drivers. client:exchange(kind, wire) prepares the same
 * request client:perform and multi:add prepare (kinds.c: the one request reader, query and multipart
 * encoders, the secret forms of auth.c). Then:
 *   ex:head()        the request head (transient: it carries the token; send it and drop it)
 *   ex:body(n)       the next body chunk, nil at the end (nil, err when an upload file fails)
 *   ex:feed(bytes)   response bytes in; "done" | "more" | "failed"; ex:feed() = the peer closed
 *   ex:fail(kind, detail, reached_server)   a socket failure (connect, tls, timeout, ...)
 *   ex:result()      what client:perform returns for the same kind (kind_finish); the token stays in C
 *   ex:keepalive()   the connection may be reused
 *   ex:rewind()      resend from the start on a fresh connection (a reused one died before any reply);
 *                    false, with the failure recorded, for a request that is not safe to send twice
 *   ex:repeatable()  whether the request is safe to send twice
 *   ex:progress()    dl_total, dl_now, ul_total, ul_now */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "errors.h"
#include "exchange.h"
#include "kinds.h"
#include "response.h"
#include "secret.h"
#include "wire.h"

#define EXCHANGE_MT "falcon.core.exchange"
/* The largest body chunk ex:body hands out at once: each becomes a Lua string, so the bound keeps an
 * upload's memory at a chunk however large the file. */
#define CHUNK_MAX (1024 * 1024)

/* SENDING: built, the answer not complete; DONE: the answer is complete or failed, ex:result may read
 * it; FREED: ex:result has handed it out (or __gc ran), and every method but tostring raises. */

enum state { STATE_SENDING, STATE_DONE, STATE_FREED };

typedef struct {
    enum state state;
    falcon_client *client;
    prepared_request req;   /* what to send, by kind (kinds.h) */
    buffer head;            /* wiped: holds the bearer token */
    buffer chunk;           /* ex:body's scratch for an upload's next bytes (the exchange's: a raise
                             * while pushing them leaves it to __gc) */
    transfer_result rs;
    response_parser rp;
    size_t body_offset;     /* plain bodies */
    long long sent;         /* body bytes handed out */
    int client_ref;
    lua_State *L;           /* the state inside ex:feed, for an on_data callback */
} falcon_exchange;

/* Releases a registry reference once; the slot is left as LUA_NOREF so a second release is harmless. */
static void unref(lua_State *L, int *ref) {
    if (*ref != LUA_NOREF && *ref != LUA_REFNIL) luaL_unref(L, LUA_REGISTRYINDEX, *ref);
    *ref = LUA_NOREF;
}

/* Frees everything the exchange owns (the head wiped: it carried the token) and lets go of its client.
 * Runs from ex:result (at once, so a finished exchange pins nothing until the next collection) and
 * from __gc/close; the state makes the second run a no-op. */
static void exchange_release(lua_State *L, falcon_exchange *x) {
    if (x->state == STATE_FREED) return;
    transfer_result_free(&x->rs);
    kind_free(L, &x->req);
    buffer_wipe_free(&x->head);
    buffer_free(&x->chunk);
    unref(L, &x->client_ref);
    x->state = STATE_FREED;
}

/* live: the caller needs the exchange's memory, which a freed exchange no longer has. */
static falcon_exchange *exchange_check(lua_State *L, int idx, int live) {
    falcon_exchange *x = errors_check_udata(L, idx, EXCHANGE_MT, "core.exchange");
    if (live && x->state == STATE_FREED) errors_raise(L, "core.exchange", "the exchange is finished");
    return x;
}

/* The userdata comes first, so a raise while reading the request leaves nothing __gc cannot free. */
static falcon_exchange *new_exchange(lua_State *L) {
    falcon_exchange *x = lua_newuserdata(L, sizeof *x);
    memset(x, 0, sizeof *x);
    x->state = STATE_SENDING;
    x->client_ref = LUA_NOREF;
    transfer_request_init(&x->req.rq);
    buffer_init(&x->req.query);
    buffer_init(&x->req.form);
    buffer_init(&x->head);
    buffer_init(&x->chunk);
    buffer_init(&x->rs.headers);
    buffer_init(&x->rs.body);
    luaL_setmetatable(L, EXCHANGE_MT);
    x->client = client_check(L, 1);
    /* The exchange points into its client (token, base URL, settings): it keeps the client alive. */
    lua_pushvalue(L, 1);
    x->client_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return x;
}

/* Builds the head and readies the response side; leaves ex, or nil + err, on the stack. A base URL this
 * driver cannot split is a returned error (the engine reports it as any transport failure); nothing has
 * been sent. rs.L points at x->L, which ex:feed sets while it runs, so a callback finds its state. */
static int ready(lua_State *L, falcon_exchange *x) {
    endpoint ep;
    if (!endpoint_parse(x->client->base_url, &ep))
        return errors_push(L, "transport", "the base URL cannot be used by the cosocket driver", 0);
    if (!transfer_result_init(&x->rs, &x->req.rq, (size_t)x->client->max_body_bytes) || !wire_head(x->client, &ep, &x->req.rq, &x->head))
        return errors_push(L, "transport", "out of memory while building the request", 0);
    response_init(&x->rp, &x->rs, strcmp(x->req.rq.method, "HEAD") == 0);
    x->rs.L = &x->L;
    if (x->req.rq.form != NULL) multipart_rewind(x->req.rq.form);
    return 1;
}

/* client:exchange(kind, wire) -> ex | nil, err. The cosocket driver (drivers/cosocket.lua) then sends ex:head()
 * and the body, feeds what the socket returns, and asks ex:result(); every byte's meaning is decided
 * here in C, the Lua side only moves them. */
static int client_exchange(lua_State *L) {
    client_check(L, 1);
    falcon_exchange *x = new_exchange(L);
    kind_init(L, 2, "client:exchange", &x->req);
    if (!kind_prepare(L, x->client, 3, &x->req)) return 2;
    return ready(L, x);
}

/* The head as a Lua string: the one place the token crosses into Lua under this driver (README says
 * so), because only Lua can write to an nginx socket. The caller sends it and drops it. */
static int ex_head(lua_State *L) {
    falcon_exchange *x = exchange_check(L, 1, 1);
    lua_pushlstring(L, x->head.data ? x->head.data : "", x->head.len);
    return 1;
}

/* ex:body(n) -> next chunk (at most n bytes), nil at the end; nil, err when an upload file fails. A form
 * (or a file body) is read from the one multipart encoder into the exchange's own scratch buffer, so a
 * memory error while pushing the chunk leaks nothing; a string body is pushed in slices of itself. */
static int ex_body(lua_State *L) {
    falcon_exchange *x = exchange_check(L, 1, 1);
    lua_Integer n = errors_opt_integer(L, 2, 65536, 1, CHUNK_MAX, "exchange:body", "n");
    if (x->req.rq.form != NULL) {
        buffer_reset(&x->chunk);
        if (!buffer_reserve(&x->chunk, (size_t)n)) return errors_raise(L, "exchange:body", "out of memory");
        size_t got = multipart_read(x->req.rq.form, x->chunk.data, (size_t)n);
        if (got == MULTIPART_ERROR) {
            lua_pushnil(L);
            lua_pushstring(L, x->req.rq.form->detail ? x->req.rq.form->detail : "cannot read the upload");
            return 2;
        }
        if (got == 0) lua_pushnil(L);
        else lua_pushlstring(L, x->chunk.data, got);
        x->sent += (long long)got;
        return 1;
    }
    size_t left = x->req.rq.body != NULL ? x->req.rq.body_len - x->body_offset : 0;
    if (left == 0) {
        lua_pushnil(L);
        return 1;
    }
    size_t take = left < (size_t)n ? left : (size_t)n;
    lua_pushlstring(L, x->req.rq.body + x->body_offset, take);
    x->body_offset += take;
    x->sent += (long long)take;
    return 1;
}

/* The response parser's state as the word the Lua driver loops on. */
static int push_state(lua_State *L, int r) {
    if (r == RESPONSE_DONE) lua_pushliteral(L, "done");
    else if (r == RESPONSE_MORE) lua_pushliteral(L, "more");
    else lua_pushliteral(L, "failed");
    return 1;
}

/* ex:feed(bytes) / ex:feed() at end of stream -> "done" | "more" | "failed". Once done, feeding more is
 * harmless (the state stays). request_size marks the request as sent: from the first answer byte on, a
 * failure has reached the server (errors.c), which decides whether it may be retried. An empty string is
 * not the end (a socket read may return none); only no argument is. */
static int ex_feed(lua_State *L) {
    falcon_exchange *x = exchange_check(L, 1, 1);
    size_t len = 0;
    const char *data = errors_opt_string(L, 2, "exchange:feed", "bytes", &len);
    if (x->state == STATE_DONE) return push_state(L, x->rs.code == CURLE_OK ? RESPONSE_DONE : RESPONSE_FAILED);
    x->rs.request_size = (curl_off_t)x->head.len; /* reading the answer: the request went out */
    if (data != NULL && len == 0) return push_state(L, RESPONSE_MORE);
    x->L = L;
    int r = response_feed(&x->rp, data, len);
    x->L = NULL;
    if (r != RESPONSE_MORE) x->state = STATE_DONE;
    return push_state(L, r);
}

/* A socket failure as the CURLcode libcurl gives for it, so errors.c names it with the same kind and
 * the engine retries it (or not) as it would the libcurl driver's. */
static CURLcode code_of(const char *kind) {
    if (strcmp(kind, "dns") == 0) return CURLE_COULDNT_RESOLVE_HOST;
    if (strcmp(kind, "connect") == 0) return CURLE_COULDNT_CONNECT;
    if (strcmp(kind, "timeout") == 0) return CURLE_OPERATION_TIMEDOUT;
    if (strcmp(kind, "verify") == 0) return CURLE_PEER_FAILED_VERIFICATION;
    if (strcmp(kind, "tls") == 0) return CURLE_SSL_CONNECT_ERROR;
    if (strcmp(kind, "send") == 0) return CURLE_SEND_ERROR;
    if (strcmp(kind, "recv") == 0) return CURLE_RECV_ERROR;
    if (strcmp(kind, "file") == 0) return CURLE_READ_ERROR;
    if (strcmp(kind, "aborted") == 0) return CURLE_ABORTED_BY_CALLBACK;
    if (strcmp(kind, "proxy") == 0) return CURLE_COULDNT_RESOLVE_PROXY;
    return CURLE_RECV_ERROR;
}

/* What a socket driver reports; "verify" is a certificate the trusted CAs do not vouch for. */
static const char *const fail_kinds[] = {"dns", "connect", "timeout", "tls", "verify", "send", "recv", "file",
                                         "aborted", "proxy", NULL};

/* ex:fail(kind, detail, reached_server): the Lua driver's socket failed. reached_server is the driver's
 * word (it knows whether the request was written): it is what keeps a write from being sent twice. */
static int ex_fail(lua_State *L) {
    falcon_exchange *x = exchange_check(L, 1, 1);
    const char *kind = fail_kinds[errors_check_option(L, 2, fail_kinds, "exchange:fail", "kind")];
    const char *detail = errors_opt_string(L, 3, "exchange:fail", "detail", NULL);
    if (x->state == STATE_DONE && x->rs.code != CURLE_OK) return 0; /* the first failure is the one */
    x->state = STATE_DONE;
    x->rs.code = code_of(kind);
    free(x->rs.detail);
    x->rs.detail = detail != NULL ? strdup(detail) : NULL;
    x->rs.request_size = lua_toboolean(L, 4) ? (curl_off_t)x->head.len : 0;
    return 0;
}

/* ex:rewind() -> true: send again from the first byte on a fresh connection (the reused one died before
 * any answer). A write is never sent twice: the server may have applied it before the connection died;
 * then false, and the exchange fails as libcurl's transfer does (transfer.c, on_prereq). */
static int ex_rewind(lua_State *L) {
    falcon_exchange *x = exchange_check(L, 1, 1);
    if (x->rp.received && x->rs.code == CURLE_OK) return errors_raise(L, "exchange:rewind", "the response has started");
    if (!x->req.rq.repeatable) {
        x->state = STATE_DONE;
        x->rs.code = CURLE_SEND_ERROR;
        free(x->rs.detail);
        x->rs.detail = strdup(TRANSFER_NOT_RESENT);
        x->rs.request_size = (curl_off_t)x->head.len;
        lua_pushboolean(L, 0);
        return 1;
    }
    /* A fresh result and parser: nothing of the dead connection's attempt may leak into the answer. */
    transfer_result_free(&x->rs);
    if (!transfer_result_init(&x->rs, &x->req.rq, (size_t)x->client->max_body_bytes)) return errors_raise(L, "exchange:rewind", "out of memory");
    response_init(&x->rp, &x->rs, strcmp(x->req.rq.method, "HEAD") == 0);
    x->rs.L = &x->L;
    if (x->req.rq.form != NULL) multipart_rewind(x->req.rq.form);
    x->body_offset = 0;
    x->sent = 0;
    x->state = STATE_SENDING;
    lua_pushboolean(L, 1);
    return 1;
}

/* Asked by the Lua driver before it resends on a fresh connection (the same rule as ex:rewind's). */
static int ex_repeatable(lua_State *L) {
    lua_pushboolean(L, exchange_check(L, 1, 1)->req.rq.repeatable);
    return 1;
}

/* ex:result() -> the values client:perform returns for the same kind. Once: the exchange is released
 * after it (a token answer's body wiped by kind_finish, the head by the release). A save_to file is
 * renamed into place here, only for a complete answer. */
static int ex_result(lua_State *L) {
    falcon_exchange *x = exchange_check(L, 1, 1);
    if (x->state != STATE_DONE) return errors_raise(L, "exchange:result", "the exchange has not finished");
    if (x->rs.code == CURLE_OK) x->rs.request_size = (curl_off_t)x->head.len;
    transfer_finish_sink(&x->rs);
    x->client->requests++;
    lua_rawgeti(L, LUA_REGISTRYINDEX, x->client_ref); /* keeps the client alive while finishing */
    int n = kind_finish(L, x->client, &x->req, &x->rs);
    lua_remove(L, -(n + 1));
    exchange_release(L, x);
    return n;
}

/* The connection goes back to nginx's pool only after a complete, clean answer that allows it, with no
 * byte left unread (response.c); anything else is closed by the driver. */
static int ex_keepalive(lua_State *L) {
    falcon_exchange *x = exchange_check(L, 1, 0);
    lua_pushboolean(L, x->rp.complete && x->rp.keep_alive && x->rs.code == CURLE_OK);
    return 1;
}

/* A progress callback's four numbers, as libcurl's XFERINFO gives them (0 where a total is unknown). */
static int ex_progress(lua_State *L) {
    falcon_exchange *x = exchange_check(L, 1, 1);
    long long ul_total = wire_content_length(&x->req.rq);
    lua_pushnumber(L, (lua_Number)(x->rp.content_length > 0 ? x->rp.content_length : 0));
    lua_pushnumber(L, (lua_Number)x->rp.body_bytes);
    lua_pushnumber(L, (lua_Number)(ul_total > 0 ? ul_total : 0));
    lua_pushnumber(L, (lua_Number)x->sent);
    return 4;
}

/* __gc, __close and ex:close(): an exchange dropped unfinished (the socket failed, the coroutine was
 * killed) frees everything now; its request was never answered, so nothing is reported. */
static int ex_gc(lua_State *L) {
    exchange_release(L, exchange_check(L, 1, 0));
    return 0;
}

/* Only the state: the head holds the token, and the answer may hold anything. */
static int ex_tostring(lua_State *L) {
    falcon_exchange *x = exchange_check(L, 1, 0);
    static const char *const states[] = {"sending", "done", "finished"};
    lua_pushfstring(L, "falcon.core.exchange (%s)", states[x->state]);
    return 1;
}

/* client:transport() -> the settings a socket driver needs; nothing secret (a proxy's URL may hold
 * credentials: only whether there is one is said, and the driver refuses it). */
static int client_transport(lua_State *L) {
    falcon_client *c = client_check(L, 1);
    endpoint ep;
    if (!endpoint_parse(c->base_url, &ep)) return errors_raise(L, "client:transport", "unreadable base URL");
    lua_createtable(L, 0, 10);
    lua_pushstring(L, ep.tls ? "https" : "http");
    lua_setfield(L, -2, "scheme");
    lua_pushstring(L, ep.host);
    lua_setfield(L, -2, "host");
    lua_pushinteger(L, ep.port);
    lua_setfield(L, -2, "port");
    lua_pushnumber(L, c->connect_timeout_ms / 1000.0);
    lua_setfield(L, -2, "connect_timeout");
    lua_pushnumber(L, (lua_Number)c->read_timeout_s);
    lua_setfield(L, -2, "read_timeout");
    lua_pushnumber(L, c->timeout_ms / 1000.0);
    lua_setfield(L, -2, "timeout");
    lua_pushboolean(L, c->ssl_verify);
    lua_setfield(L, -2, "ssl_verify");
    if (c->ca_bundle != NULL) {
        lua_pushstring(L, c->ca_bundle);
        lua_setfield(L, -2, "ca_bundle");
    }
    lua_pushboolean(L, c->proxy != NULL && c->proxy[0] != '\0');
    lua_setfield(L, -2, "proxy");
    return 1;
}

void exchange_register(lua_State *L) {
    static const luaL_Reg methods[] = {{"head", ex_head},         {"body", ex_body},
                                       {"feed", ex_feed},         {"fail", ex_fail},
                                       {"rewind", ex_rewind},     {"result", ex_result},
                                       {"repeatable", ex_repeatable},
                                       {"keepalive", ex_keepalive}, {"progress", ex_progress},
                                       {"close", ex_gc},          {NULL, NULL}};
    if (luaL_newmetatable(L, EXCHANGE_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, ex_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, ex_gc);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, ex_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    /* The client's methods live in its metatable's __index table (client.c); these join them. */
    static const luaL_Reg client_methods[] = {{"exchange", client_exchange},
                                              {"transport", client_transport},
                                              {NULL, NULL}};
    luaL_getmetatable(L, CLIENT_MT);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, client_methods, 0);
    lua_pop(L, 2);
}
