/* client.c: the client userdata: settings, secrets, lifecycle, and the blocking driver's exchange. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "buffer.h"
#include "compat.h"
#include "errors.h"
#include "kinds.h"
#include "mime.h"
#include "query.h"
#include "secret.h"
#include "transfer.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_READ_TIMEOUT_S 60L
/* A body kept in memory larger than this is an error (save_to streams any size): the largest Falcon
 * JSON pages are tens of MB; a hostile or broken server must not take the process's memory. */
#define DEFAULT_MAX_BODY_BYTES (128L * 1024 * 1024)
/* Options become header lines, URL parts or token form fields: bounded like a header line. */
#define MAX_OPTION_LEN 8192

falcon_client *client_check(lua_State *L, int idx) {
    falcon_client *c = errors_check_udata(L, idx, CLIENT_MT, "core.client");
    if (c->easy == NULL) errors_raise(L, "core.client", "the client is closed");
    return c;
}

falcon_client *client_check_idle(lua_State *L, int idx) {
    falcon_client *c = client_check(L, idx);
    /* From a progress callback of its own request: the handle is inside libcurl. */
    if (c->performing) errors_raise(L, "core.client", "the client is busy with a request (called from its own callback)");
    return c;
}

int client_apply_settings(falcon_client *c, CURL *easy) {
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    if (c->read_timeout_s > 0) {
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, c->read_timeout_s);
    }
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, c->ssl_verify ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, c->ssl_verify ? 2L : 0L);
    /* Bodies are decoded by the core itself (sink.c: bounded, and a truncated stream is an error);
     * transfer_prepare sends the Accept-Encoding line. */
    curl_easy_setopt(easy, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    /* Copied by libcurl: without them a request would go past the proxy, or trust the system's CAs. */
    if (c->ca_bundle != NULL && curl_easy_setopt(easy, CURLOPT_CAINFO, c->ca_bundle) != CURLE_OK) return 0;
    /* An empty proxy string ("") stops libcurl from using http_proxy/https_proxy from the environment. */
    return c->proxy == NULL || curl_easy_setopt(easy, CURLOPT_PROXY, c->proxy) == CURLE_OK;
}

void client_forget_token(falcon_client *c) {
    secret_free(&c->token);
    c->token_expires_at = 0;
    c->token_static = 0;
}

int client_closed(const falcon_client *c) {
    return c->easy == NULL;
}

void client_attach(falcon_client *c, client_user *u) {
    u->prev = NULL;
    u->next = c->users;
    if (c->users != NULL) c->users->prev = u;
    c->users = u;
}

void client_detach(falcon_client *c, client_user *u) {
    if (u->prev != NULL) u->prev->next = u->next;
    else if (c->users == u) c->users = u->next;
    if (u->next != NULL) u->next->prev = u->prev;
    u->prev = u->next = NULL;
}

static void client_free(falcon_client *c) {
    if (c->easy != NULL) curl_easy_cleanup(c->easy);
    c->easy = NULL;
    secret_free(&c->client_id);
    secret_free(&c->client_secret);
    secret_free(&c->member_cid);
    secret_free(&c->token);
    secret_free(&c->proxy);
    free(c->base_url);
    free(c->ca_bundle);
    curl_slist_free_all(c->user_agent);
    c->user_agent = NULL;
    c->base_url = c->ca_bundle = NULL;
}

/* ---- options ---------------------------------------------------------------------------- */

static const char *const option_names[] = {"base_url",   "client_id",       "client_secret", "member_cid",
                                           "access_token", "connect_timeout", "timeout",       "read_timeout",
                                           "proxy",      "ssl_verify",      "ca_bundle",     "user_agent",
                                           "max_body_bytes", NULL};

static void check_option_names(lua_State *L, int opts) {
    lua_pushnil(L);
    while (lua_next(L, opts)) {
        lua_pop(L, 1);
        int known = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (int i = 0; option_names[i] && !known; i++) known = strcmp(option_names[i], lua_tostring(L, -1)) == 0;
        if (!known)
            errors_raise(L, "core.client", "unknown option '%s'",
                       lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
    }
}

/* A string option, or NULL when absent; raises when present but not a clean non-empty string. */
static const char *string_option(lua_State *L, int opts, const char *key, int allow_controls, int allow_empty) {
    lua_getfield(L, opts, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        errors_raise(L, "core.client", "bad option '%s' (string expected, got %s)", key, luaL_typename(L, -1));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (len == 0 && !allow_empty) errors_raise(L, "core.client", "bad option '%s' (non-empty string expected)", key);
    if (len > MAX_OPTION_LEN)
        errors_raise(L, "core.client", "bad option '%s' (at most %d bytes expected)", key, MAX_OPTION_LEN);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == 0 || (!allow_controls && (ch < 0x20 || ch == 0x7f)))
            errors_raise(L, "core.client", "bad option '%s' (control characters are not allowed)", key);
    }
    lua_pop(L, 1); /* still referenced by the options table */
    return s;
}

static double seconds_option(lua_State *L, int opts, const char *key, double fallback, int allow_zero) {
    lua_getfield(L, opts, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return fallback;
    }
    if (lua_type(L, -1) != LUA_TNUMBER)
        errors_raise(L, "core.client", "bad option '%s' (seconds as a number expected, got %s)", key,
                   luaL_typename(L, -1));
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(v > 0 || (allow_zero && v == 0)) || v > 86400.0 * 365)
        errors_raise(L, "core.client", "bad option '%s' (%s expected)", key,
                   allow_zero ? "0 (no limit) or a positive number of seconds" : "a positive number of seconds");
    return v;
}

/* The proxy variables libcurl reads for an http:// URL (it ignores HTTP_PROXY: CGI sets it). */
static int environment_names_proxy(void) {
    static const char *const names[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *value = getenv(names[i]);
        if (value != NULL && value[0] != '\0') return 1;
    }
    return 0;
}

static int valid_base_url(const char *s) {
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static char *copy_base_url(const char *s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/') n--;
    return secret_dup(s, n);
}

int client_lua_new(lua_State *L) {
    errors_check_table(L, 1, "core.client", "options");
    check_option_names(L, 1);
    /* Everything that can raise is read before anything is allocated. */
    const char *base_url = string_option(L, 1, "base_url", 0, 0);
    if (base_url == NULL || !valid_base_url(base_url))
        errors_raise(L, "core.client", "bad option 'base_url' (http:// or https:// URL expected)");
    const char *client_id = string_option(L, 1, "client_id", 0, 0);
    const char *client_secret = string_option(L, 1, "client_secret", 1, 0);
    const char *member_cid = string_option(L, 1, "member_cid", 0, 0);
    const char *access_token = string_option(L, 1, "access_token", 0, 0);
    const char *proxy = string_option(L, 1, "proxy", 0, 1);
    const char *ca_bundle = string_option(L, 1, "ca_bundle", 0, 0);
    const char *user_agent = string_option(L, 1, "user_agent", 0, 0);
    double connect_timeout = seconds_option(L, 1, "connect_timeout", DEFAULT_CONNECT_TIMEOUT_MS / 1000.0, 0);
    double timeout = seconds_option(L, 1, "timeout", 0, 1);
    double read_timeout = seconds_option(L, 1, "read_timeout", (double)DEFAULT_READ_TIMEOUT_S, 1);
    lua_getfield(L, 1, "max_body_bytes");
    lua_Number max_body = lua_isnil(L, -1) ? (lua_Number)DEFAULT_MAX_BODY_BYTES : lua_tonumber(L, -1);
    /* In range before the cast to long: casting a larger double is undefined. */
    if (lua_type(L, -1) != LUA_TNIL && (lua_type(L, -1) != LUA_TNUMBER || !(max_body >= 0) ||
                                         max_body > (lua_Number)LONG_MAX / 2 || max_body != (lua_Number)(long)max_body))
        errors_raise(L, "core.client", "bad option 'max_body_bytes' (a whole number of bytes >= 0 expected; 0: "
                      "no limit)");
    lua_pop(L, 1);
    lua_getfield(L, 1, "ssl_verify");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        errors_raise(L, "core.client", "bad option 'ssl_verify' (boolean expected, got %s)", luaL_typename(L, -1));
    int ssl_verify = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    /* Credentials from the environment only when none were given and no token was handed in. */
    if (client_id == NULL && client_secret == NULL && access_token == NULL) {
        const char *env_id = getenv("FALCON_CLIENT_ID"), *env_secret = getenv("FALCON_CLIENT_SECRET");
        if (env_id != NULL && env_id[0] != '\0' && env_secret != NULL && env_secret[0] != '\0') {
            client_id = env_id;
            client_secret = env_secret;
        }
    }
    if ((client_id == NULL) != (client_secret == NULL))
        errors_raise(L, "core.client", "bad option '%s' (client_id and client_secret go together)",
                   client_id == NULL ? "client_id" : "client_secret");

    falcon_client *c = lua_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, CLIENT_MT);
    c->connect_timeout_ms = (long)(connect_timeout * 1000);
    c->timeout_ms = (long)(timeout * 1000);
    c->read_timeout_s = read_timeout > 0 && read_timeout < 1 ? 1 : (long)read_timeout;
    c->ssl_verify = ssl_verify;
    c->max_body_bytes = (long)max_body;
    c->plain_proxy = proxy != NULL ? proxy[0] != '\0' : environment_names_proxy();
    buffer ua;
    buffer_init(&ua);
    buffer_append_str(&ua, "User-Agent: falconlua/" FALCONLUA_VERSION);
    if (user_agent != NULL) {
        buffer_append_char(&ua, ' ');
        buffer_append_str(&ua, user_agent);
    }
    int ok = buffer_cstr(&ua) != NULL && (c->user_agent = curl_slist_append(NULL, ua.data)) != NULL;
    buffer_free(&ua); /* the list holds its own copy */
    c->easy = curl_easy_init();
    c->base_url = copy_base_url(base_url);
#define COPY(field, src) ok = ok && ((src) == NULL || ((c->field = secret_dup((src), strlen(src))) != NULL))
    COPY(client_id, client_id);
    COPY(client_secret, client_secret);
    COPY(member_cid, member_cid);
    COPY(token, access_token);
    COPY(proxy, proxy);
    COPY(ca_bundle, ca_bundle);
#undef COPY
    /* The settings once: the handle is reused without a reset. */
    if (!ok || c->easy == NULL || c->base_url == NULL || !client_apply_settings(c, c->easy)) {
        client_free(c);
        return errors_raise(L, "core.client", "out of memory");
    }
    idle_watch(c->easy, &c->idle);
    c->token_static = access_token != NULL;
    return 1;
}

/* ---- the blocking driver's exchange ---------------------------------------------------------- */

#define PERFORM_MT "falcon.core.perform"

/* What one client:perform holds in C: the request and the result. A userdata, made before anything
 * is allocated, so that a memory error raised while the request is read or the answer pushed (Lua
 * allocates all along) leaves it all to __gc. */
typedef struct {
    prepared_request p;
    transfer_result rs;
} perform_record;

static int perform_record_gc(lua_State *L) {
    perform_record *r = lua_touserdata(L, 1);
    kind_free(L, &r->p);
    transfer_result_free(&r->rs);
    return 0;
}

/* client:perform(kind, request) -> status, headers, body, info | nil, err (kinds.h) */
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

/* falcon.core.perform(client, kind, request): client:perform as a function of the module, which the
 * blocking driver takes as its exchange, so that no Lua function stands between the engine and the core. */
void client_push_perform(lua_State *L) {
    lua_pushcfunction(L, client_perform);
}

/* ---- small accessors ------------------------------------------------------------------------ */

static int client_token_info(lua_State *L) {
    falcon_client *c = client_check(L, 1);
    lua_createtable(L, 0, 5);
    lua_pushboolean(L, c->token != NULL);
    lua_setfield(L, -2, "has_token");
    if (c->token != NULL && c->token_expires_at > 0) {
        lua_pushnumber(L, c->token_expires_at);
        lua_setfield(L, -2, "expires_at");
    }
    lua_pushboolean(L, c->token_static);
    lua_setfield(L, -2, "static");
    lua_pushboolean(L, c->client_id != NULL && c->client_secret != NULL);
    lua_setfield(L, -2, "has_credentials");
    lua_pushboolean(L, c->member_cid != NULL); /* whether, not which: the CID stays in C like the rest */
    lua_setfield(L, -2, "has_member_cid");
    return 1;
}

/* client:token_fresh(window) -> true when a token is held that does not expire within window seconds
 * (a handed-in token, whose expiry is unknown, always counts as fresh). The engine asks this on every
 * call, so it allocates nothing. */
static int client_token_fresh(lua_State *L) {
    falcon_client *c = client_check(L, 1);
    lua_Number window = errors_check_number(L, 2, "client:token_fresh", "window");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    double now = (double)tv.tv_sec + tv.tv_usec / 1e6;
    lua_pushboolean(L, c->token != NULL && (c->token_static || c->token_expires_at == 0 ||
                                            now + window < c->token_expires_at));
    return 1;
}

static int client_forget(lua_State *L) {
    client_forget_token(client_check(L, 1));
    return 0;
}

static int client_base_url(lua_State *L) {
    lua_pushstring(L, client_check(L, 1)->base_url);
    return 1;
}

static int client_set_base_url(lua_State *L) {
    falcon_client *c = client_check(L, 1);
    const char *url = errors_check_string(L, 2, "client:set_base_url", "url", NULL);
    if (!valid_base_url(url) || strpbrk(url, " \r\n\t") != NULL || strlen(url) != falcon_rawlen(L, 2))
        return errors_raise(L, "client:set_base_url", "bad argument 'url' (http:// or https:// URL expected)");
    char *copy = copy_base_url(url);
    if (copy == NULL) return errors_raise(L, "client:set_base_url", "out of memory");
    free(c->base_url);
    c->base_url = copy;
    return 0;
}

/* MSSP child_login / child_logout: the member CID the next token request names (nil: the parent).
 * The held token belonged to the other tenant, so it is dropped. */
static int client_set_member_cid(lua_State *L) {
    falcon_client *c = client_check(L, 1);
    size_t len = 0;
    const char *cid = errors_opt_string(L, 2, "client:set_member_cid", "member_cid", &len);
    if (cid != NULL && (len == 0 || strlen(cid) != len || strpbrk(cid, "\r\n") != NULL))
        return errors_raise(L, "client:set_member_cid",
                            "bad argument 'member_cid' (non-empty member CID without control characters expected)");
    char *copy = NULL;
    if (cid != NULL && (copy = secret_dup(cid, len)) == NULL) return errors_raise(L, "client:set_member_cid", "out of memory");
    secret_free(&c->member_cid);
    c->member_cid = copy;
    client_forget_token(c);
    return 0;
}

/* Ends every transfer in flight on this client (each then fails with an error), then frees. A progress
 * callback runs inside libcurl: closing from there would free what libcurl is using, so it raises. */
static int client_close(lua_State *L) {
    falcon_client *c = errors_check_udata(L, 1, CLIENT_MT, "core.client");
    int busy = c->performing;
    for (client_user *u = c->users; u != NULL && !busy; u = u->next) busy = u->busy(u);
    if (busy) return errors_raise(L, "client:close", "the client cannot be closed from inside one of its own transfers");
    while (c->users != NULL) c->users->end(L, c->users); /* each detaches itself */
    client_free(c); /* idempotent: every field is reset to NULL */
    return 0;
}

static int client_tostring(lua_State *L) {
    falcon_client *c = errors_check_udata(L, 1, CLIENT_MT, "core.client");
    if (c->easy == NULL) {
        lua_pushliteral(L, "falcon.core.client (closed)");
        return 1;
    }
    const char *token = c->token == NULL ? "none" : c->token_static ? "handed in" : "held";
    lua_pushfstring(L, "falcon.core.client (%s, token: %s, requests: %d)", c->base_url, token, (int)c->requests);
    return 1;
}

void client_register(lua_State *L) {
    static const luaL_Reg methods[] = {{"perform", client_perform},
                                       {"token_info", client_token_info},
                                       {"token_fresh", client_token_fresh},
                                       {"forget_token", client_forget},
                                       {"base_url", client_base_url},
                                       {"set_base_url", client_set_base_url},
                                       {"set_member_cid", client_set_member_cid},
                                       {"close", client_close},
                                       {NULL, NULL}};
    if (luaL_newmetatable(L, PERFORM_MT)) {
        lua_pushcfunction(L, perform_record_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, CLIENT_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, client_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, client_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, client_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, "falcon.core.client");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
}
