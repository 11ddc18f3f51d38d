/* multi.c: the multi handle and its transfers. A transfer owns its easy handle and everything the
 * request points to (via registry references), so it can stay in flight while Lua code runs.
 * multi:perform(timeout) moves every transfer forward and returns those that finished;
 * transfer:result() then gives what client:perform gives for the same kind (kinds.c). Connections,
 * DNS and TLS sessions are shared by all transfers of one multi handle. */
#define _DEFAULT_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "errors.h"
#include "kinds.h"
#include "multi.h"
#include "transfer.h"

#define MULTI_MT "falcon.core.multi"
#define TRANSFER_MT "falcon.core.transfer"

/* NEW: made, not yet in libcurl; RUNNING: in the multi handle and the client's users; DONE: finished or
 * ended, its result waiting for transfer:result(); FREED: released (result taken, or __gc). */
enum state { STATE_NEW, STATE_RUNNING, STATE_DONE, STATE_FREED };

typedef struct falcon_transfer falcon_transfer;

typedef struct {
    CURLM *handle;
    lua_State *L;              /* the state inside libcurl's calls of multi:perform, for callbacks; NULL
                                * whenever Lua may allocate (a memory error must not leave it set) */
    falcon_transfer *running;  /* doubly linked list of transfers in flight */
    falcon_transfer *ended;    /* finished (or ended by their client's close()), not yet handed to Lua:
                                * reported by the next perform */
    idle_set idle;             /* the shared cache's kept-alive connections, watched while idle */
    long max_connections;
} falcon_multi;

struct falcon_transfer {
    client_user link;          /* in the client's list while running (its proxy headers are in use) */
    CURL *easy;
    falcon_multi *multi;       /* NULL once the multi handle is gone */
    falcon_client *client;
    enum state state;
    prepared_request req;      /* what to send, by kind (kinds.h) */
    transfer_result rs;
    buffer url;
    struct curl_slist *headers;
    int self_ref, multi_ref, client_ref; /* keep everything alive while in flight */
    falcon_transfer *prev, *next;
};

/* Releases a registry reference once (LUA_REFNIL too, which luaL_ref gives for nil). */
static void unref(lua_State *L, int *ref) {
    if (*ref != LUA_NOREF && *ref != LUA_REFNIL) luaL_unref(L, LUA_REGISTRYINDEX, *ref);
    *ref = LUA_NOREF;
}

/* Out of the multi's running list and the client's users: no longer in flight. A transfer whose multi
 * is gone (closed under it) was unlinked from the multi's list then; only the client's remains. */
static void unlink_running(falcon_transfer *t) {
    if (t->state != STATE_RUNNING) return;
    client_detach(t->client, &t->link);
    if (t->multi == NULL) return;
    if (t->prev) t->prev->next = t->next;
    else if (t->multi->running == t) t->multi->running = t->next;
    if (t->next) t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

/* The transfer a client_user link belongs to (the link is a member, not the first one). */
static falcon_transfer *of_link(client_user *u) {
    return (falcon_transfer *)((char *)u - offsetof(falcon_transfer, link));
}

/* A transfer is inside libcurl exactly while its multi handle is being driven (m->L is set only then):
 * the client cannot end it from a callback, since libcurl is using its handle. */
static int transfer_busy(const client_user *u) {
    const falcon_transfer *t = (const falcon_transfer *)((const char *)u - offsetof(falcon_transfer, link));
    return t->multi != NULL && t->multi->L != NULL;
}

/* The client is closing: the transfer leaves libcurl now and fails; the next perform reports it. Its
 * proxy header option is cleared first thing after leaving the multi: it points into the client's
 * memory, which is freed right after this returns. */
static void transfer_end(lua_State *L, client_user *u) {
    falcon_transfer *t = of_link(u);
    falcon_multi *m = t->multi;
    curl_multi_remove_handle(m->handle, t->easy);
    curl_easy_setopt(t->easy, CURLOPT_PROXYHEADER, NULL); /* the client's list is about to go */
    unlink_running(t);
    t->state = STATE_DONE;
    transfer_complete(t->easy, &t->req.rq, &t->rs, CURLE_ABORTED_BY_CALLBACK);
    free(t->rs.detail);
    t->rs.detail = strdup("the client was closed while the request was in flight");
    t->next = m->ended;
    m->ended = t;
    (void)L;
}

/* Releases the easy handle and all memory; idempotent. Results already pushed are unaffected. Order
 * matters: out of the multi handle first (libcurl must not call back into memory freed below), then the
 * options that point into this transfer's memory, then the memory, then the references that kept the
 * transfer, its multi and its client alive. */
static void transfer_release(lua_State *L, falcon_transfer *t) {
    if (t->state == STATE_FREED) return;
    if (t->easy != NULL) {
        if (t->state == STATE_RUNNING && t->multi != NULL) curl_multi_remove_handle(t->multi->handle, t->easy);
        transfer_cleanup(t->easy, &t->url, &t->headers);
    }
    unlink_running(t);
    t->state = STATE_DONE;
    transfer_result_free(&t->rs);
    kind_free(L, &t->req);
    if (t->easy != NULL) curl_easy_cleanup(t->easy);
    t->easy = NULL;
    unref(L, &t->self_ref);
    unref(L, &t->multi_ref);
    unref(L, &t->client_ref);
    t->state = STATE_FREED;
}

/* The open multi handle at idx; raises for a closed one (its libcurl handle is gone). */
static falcon_multi *multi_check(lua_State *L, int idx) {
    falcon_multi *m = errors_check_udata(L, idx, MULTI_MT, "core.multi");
    if (m->handle == NULL) errors_raise(L, "core.multi", "the multi handle is closed");
    return m;
}

/* core.multi([connections]) -> a multi handle. connections bounds the connections to one host (8, as
 * parallel's default max; 256 at most: past that a server sees a flood, not a client). HTTP/2
 * multiplexing is asked for, so that where the server offers it many transfers share one connection. */
int multi_lua_new(lua_State *L) {
    lua_Integer max = errors_opt_integer(L, 1, 8, 1, 256, "core.multi", "connections");
    /* The userdata first, zeroed: if curl_multi_init fails, __gc finds a NULL handle and does nothing. */
    falcon_multi *m = lua_newuserdata(L, sizeof *m);
    memset(m, 0, sizeof *m);
    luaL_setmetatable(L, MULTI_MT);
    m->handle = curl_multi_init();
    if (m->handle == NULL) return errors_raise(L, "core.multi", "out of memory");
    m->max_connections = (long)max;
    curl_multi_setopt(m->handle, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(m->handle, CURLMOPT_MAX_HOST_CONNECTIONS, m->max_connections);
    return 1;
}

/* Creates the transfer userdata first, so that a raise while reading the request leaves nothing that
 * its __gc cannot free. It holds references to the multi (at 1) and the client (at 2): neither may be
 * collected while the transfer points into them. */
static falcon_transfer *new_transfer(lua_State *L) {
    falcon_transfer *t = lua_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    t->state = STATE_NEW;
    t->self_ref = t->multi_ref = t->client_ref = LUA_NOREF;
    t->link.end = transfer_end;
    t->link.busy = transfer_busy;
    transfer_request_init(&t->req.rq);
    buffer_init(&t->req.query);
    buffer_init(&t->req.form);
    buffer_init(&t->url);
    buffer_init(&t->rs.headers);
    buffer_init(&t->rs.body);
    luaL_setmetatable(L, TRANSFER_MT);
    t->easy = curl_easy_init();
    if (t->easy == NULL) errors_raise(L, "multi:add", "out of memory");
    lua_pushvalue(L, 1);
    t->multi_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 2);
    t->client_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return t;
}

/* Starts the prepared transfer; on failure leaves nil, err on the stack and returns 2. Each transfer has
 * its own easy handle (libcurl runs one transfer per handle at a time), all sharing the multi's
 * connection cache; so the client's settings are applied to it here, per transfer, where the blocking
 * driver applies them once to its one handle. */
static int start(lua_State *L, falcon_multi *m, falcon_transfer *t) {
    t->multi = m;
    idle_watch(t->easy, &m->idle);
    /* A fresh handle: its connection settings, once. */
    if (!client_apply_settings(t->client, t->easy) ||
        !transfer_prepare(t->easy, t->client, &t->req.rq, &t->rs, &m->L, &m->idle, &t->url, &t->headers))
        return errors_push(L, "transport", "out of memory while building the request", 0);
    /* Alive while in flight, even if Lua drops it; taken first: a memory error after the transfer is in
     * libcurl would leave it in flight and collectable (its __gc cannot leave a multi handle from inside
     * that handle's callbacks). */
    lua_pushvalue(L, -1);
    t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* A connection another transfer took up since its last one ended is not idle: never looked at. */
    for (falcon_transfer *r = m->running; r != NULL; r = r->next)
        if (r->rs.local_port > 0) idle_take(&m->idle, r->rs.local_port);
    idle_check(&m->idle);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    if (curl_multi_add_handle(m->handle, t->easy) != CURLM_OK) {
        unref(L, &t->self_ref);
        return errors_push(L, "transport", "the multi handle refused the transfer", 0);
    }
    /* In flight from here: the client must end this transfer before it frees what the handle points
     * into (client:close walks its users). */
    t->state = STATE_RUNNING;
    client_attach(t->client, &t->link);
    t->client->requests++;
    t->next = m->running;
    if (m->running) m->running->prev = t;
    m->running = t;
    return 1;
}

/* multi:add(client, kind, request) -> transfer, or nil, err. A bad request raises before anything is
 * sent; every later failure is returned, as the blocking driver returns it. */
static int multi_add(lua_State *L) {
    falcon_multi *m = multi_check(L, 1);
    falcon_client *c = client_check(L, 2);
    falcon_transfer *t = new_transfer(L);
    t->client = c;
    kind_init(L, 3, "multi:add", &t->req);
    if (!kind_prepare(L, c, 4, &t->req)) return 2;
    return start(L, m, t);
}

/* Moves the transfers libcurl reports done onto m->ended; returns whether there was one. No Lua here:
 * it runs between libcurl calls with m->L set, where a Lua allocation's error could not be caught.
 * CURLINFO_PRIVATE is the transfer (set in start), so no lookup table is needed. */
static int collect_done(falcon_multi *m) {
    int done_any = 0;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->handle, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        falcon_transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode code = msg->data.result;
        idle_add_last(&m->idle, t->easy); /* before removal: libcurl only tells while it is attached */
        curl_multi_remove_handle(m->handle, t->easy);
        unlink_running(t);
        t->state = STATE_DONE;
        transfer_complete(t->easy, &t->req.rq, &t->rs, code);
        t->next = m->ended;
        m->ended = t;
        done_any = 1;
    }
    return done_any;
}

/* Drives libcurl once (waiting up to timeout when nothing is done yet). The callbacks it runs call Lua
 * only protected (transfer.c), so nothing raises in here and m->L is always cleared again. It waits only
 * when nothing finished: a finished transfer's coroutine should run now, not after the timeout. */
static CURLMcode drive(lua_State *L, falcon_multi *m, lua_Number timeout, int *running) {
    m->L = L;
    CURLMcode mc = curl_multi_perform(m->handle, running);
    int done_any = m->ended != NULL;
    if (mc == CURLM_OK) done_any = collect_done(m) || done_any;
    if (mc == CURLM_OK && !done_any && *running > 0 && timeout > 0) {
        mc = curl_multi_poll(m->handle, NULL, 0, (int)(timeout * 1000), NULL);
        if (mc == CURLM_OK) mc = curl_multi_perform(m->handle, running);
        if (mc == CURLM_OK) collect_done(m);
    }
    m->L = NULL;
    return mc;
}

/* multi:perform(timeout_seconds) -> array of finished transfers, number still running. The scheduler
 * (drivers/multi.lua) calls it in a loop and resumes the coroutine waiting on each finished transfer.
 * Not reentrant: a callback of one of its transfers cannot drive it again (libcurl forbids it). */
static int multi_perform(lua_State *L) {
    falcon_multi *m = multi_check(L, 1);
    lua_Number timeout = errors_opt_number(L, 2, 0, "multi:perform", "timeout");
    if (!(timeout >= 0)) return errors_raise(L, "multi:perform", "bad argument 'timeout' (seconds >= 0 expected)");
    if (m->L != NULL) return errors_raise(L, "multi:perform", "the multi handle cannot be driven from inside its own transfers");
    int running = 0;
    CURLMcode mc = drive(L, m, timeout, &running);
    if (mc != CURLM_OK) return errors_raise(L, "multi:perform", "%s", curl_multi_strerror(mc));
    /* Sized first, so that handing the finished transfers over allocates once, before any is taken off
     * m->ended: a memory error here leaves them all for the next perform. (The list's head finished
     * last: it goes last.) */
    int count = 0;
    for (falcon_transfer *t = m->ended; t != NULL; t = t->next) count++;
    lua_createtable(L, count, 0);
    for (int i = count; m->ended != NULL; i--) {
        falcon_transfer *t = m->ended;
        m->ended = t->next;
        t->next = NULL;
        lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
        lua_rawseti(L, -2, i);
        unref(L, &t->self_ref);
    }
    lua_pushinteger(L, running);
    return 2;
}

/* Any transfer, in any state: each method checks the state it needs. */
static falcon_transfer *transfer_check(lua_State *L, int idx) {
    return errors_check_udata(L, idx, TRANSFER_MT, "core.transfer");
}

/* transfer:result() -> what client:perform returns for the same kind; frees the transfer. Once: the
 * result is pushed from the transfer's memory, which is released right after (a token answer's body
 * wiped on the way, auth.c). */
static int transfer_result_lua(lua_State *L) {
    falcon_transfer *t = transfer_check(L, 1);
    if (t->state != STATE_DONE) return errors_raise(L, "transfer:result", "the transfer has not finished");
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->client_ref); /* keeps the client alive while finishing */
    int n = kind_finish(L, t->client, &t->req, &t->rs);
    lua_remove(L, -(n + 1));
    transfer_release(L, t);
    return n;
}

/* A transfer collected while still in flight cannot happen: it holds a reference to itself until it
 * finishes (start). So this frees a finished or never-started transfer. */
static int transfer_gc(lua_State *L) {
    transfer_release(L, transfer_check(L, 1));
    return 0;
}

static int transfer_tostring(lua_State *L) {
    falcon_transfer *t = transfer_check(L, 1);
    static const char *const states[] = {"new", "running", "done", "freed"};
    lua_pushfstring(L, "falcon.core.transfer (%s)", states[t->state]);
    return 1;
}

/* Closing the multi handle detaches whatever is still in flight (those transfers then fail on result).
 * The transfers stay alive as long as Lua holds them (their results, their __gc): they only forget the
 * multi (t->multi = NULL) and give up the self-reference that kept them in flight. */
static int multi_close(lua_State *L) {
    falcon_multi *m = errors_check_udata(L, 1, MULTI_MT, "core.multi");
    if (m->handle == NULL) return 0;
    if (m->L != NULL) return errors_raise(L, "multi:close", "the multi handle cannot be closed from inside its own transfers");
    for (falcon_transfer *t = m->running; t != NULL;) {
        falcon_transfer *next = t->next;
        curl_multi_remove_handle(m->handle, t->easy);
        client_detach(t->client, &t->link);
        t->state = STATE_DONE;
        t->rs.code = CURLE_ABORTED_BY_CALLBACK;
        t->multi = NULL;
        t->prev = t->next = NULL;
        unref(L, &t->self_ref);
        t = next;
    }
    m->running = NULL;
    for (falcon_transfer *t = m->ended; t != NULL;) { /* ended by a client: their results wait */
        falcon_transfer *next = t->next;
        t->multi = NULL;
        t->next = NULL;
        unref(L, &t->self_ref);
        t = next;
    }
    m->ended = NULL;
    /* Every easy handle is out of the multi by now, as curl_multi_cleanup requires. */
    curl_multi_cleanup(m->handle);
    m->handle = NULL;
    return 0;
}

/* Counts the list: tostring is for people and logs, not a hot path. */
static int multi_tostring(lua_State *L) {
    falcon_multi *m = errors_check_udata(L, 1, MULTI_MT, "core.multi");
    int n = 0;
    for (falcon_transfer *t = m->running; t != NULL; t = t->next) n++;
    lua_pushfstring(L, "falcon.core.multi (%s, %d in flight)", m->handle ? "open" : "closed", n);
    return 1;
}

/* Two metatables: the multi handle, and the transfers it makes (each its own userdata, so that each is
 * collected on its own). */
void multi_register(lua_State *L) {
    static const luaL_Reg multi_methods[] = {{"add", multi_add},
                                             {"perform", multi_perform},
                                             {"close", multi_close},
                                             {NULL, NULL}};
    /* close: releases a transfer nobody will take the result of, now (its __gc may never be called: a
     * finalizer Lua fails to call under memory pressure is not called again). */
    static const luaL_Reg transfer_methods[] = {{"result", transfer_result_lua}, {"close", transfer_gc}, {NULL, NULL}};
    if (luaL_newmetatable(L, MULTI_MT)) {
        luaL_newlib(L, multi_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, multi_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, multi_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, multi_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, TRANSFER_MT)) {
        luaL_newlib(L, transfer_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, transfer_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, transfer_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}
