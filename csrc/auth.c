/* auth.c: OAuth2 client credentials (token) and revocation. The secrets and the token stay in C:
 * request bodies and the Basic header are built in buffers that are wiped after use, and a token
 * response body is parsed here and wiped, never handed to Lua. */
#include <string.h>
#include <sys/time.h>

#include "auth.h"
#include "compat.h"
#include "errors.h"
#include "query.h"
#include "secret.h"
#include "token.h"

#define DEFAULT_TOKEN_LIFETIME 1799.0 /* what the API issues; used when expires_in is missing */
/* A server's word on a lifetime is bounded: a token claiming a year (or 1e999 seconds) is renewed after a
 * day all the same, so a broken or hostile answer cannot make the client keep a token for ever. */
#define MAX_TOKEN_LIFETIME 86400.0

/* Wall-clock time, as core.now() and the Lua side compare token expiry with it (clock.c). */
static double now_seconds(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* A returned error, not a raise: a client may be made without credentials (a handed-in token), and only
 * a token request finds out that it has none. Says where credentials come from. */
static int no_credentials(lua_State *L, const char *what) {
    lua_pushfstring(L, "cannot %s: no client credentials (give client_id and client_secret, or set "
                       "FALCON_CLIENT_ID and FALCON_CLIENT_SECRET)", what);
    errors_push(L, "auth", lua_tostring(L, -1), 0);
    lua_remove(L, -3);
    return 0;
}

/* Appends "name=value" form-encoded (query.c's rules, the token endpoint reads a form). b may hold the
 * secret: its owner wipes it. Its failure flag says whether memory ran out. */
static void append_field(buffer *b, const char *name, const char *value) {
    if (b->len > 0) buffer_append_char(b, '&');
    buffer_append_str(b, name);
    buffer_append_char(b, '=');
    query_escape(b, value, strlen(value));
}

/* Returns 0 when out of memory, leaving rq->headers as it was (curl_slist_append returns NULL without
 * freeing the list). The list belongs to rq; slist_wipe_free wipes each line (the Basic header holds the
 * secret). */
static int append_header(transfer_request *rq, const char *line) {
    struct curl_slist *h = curl_slist_append(rq->headers, line);
    if (h == NULL) return 0;
    rq->headers = h;
    return 1;
}

/* The request both auth exchanges send: a POST of the form in form (borrowed: rq->body points into it,
 * and the caller owns and wipes it, kind_free). Accept says JSON so a server that could answer either
 * answers what token.c reads. */
static int form_request(lua_State *L, transfer_request *rq, const char *path, buffer *form) {
    rq->method = "POST";
    rq->route = path;
    rq->repeatable = 1; /* a second token, or a second revoke of the same token, changes nothing */
    rq->body = form->data;
    rq->body_len = form->len;
    if (form->failed || !append_header(rq, "Content-Type: application/x-www-form-urlencoded") ||
        !append_header(rq, "Accept: application/json")) {
        errors_push(L, "transport", "out of memory while building an auth request", 0);
        return 0;
    }
    return 1;
}

/* The client credentials grant (RFC 6749 section 4.4) with the secret in the body, as the Falcon API
 * takes it (FalconPy sends it the same way); member_cid asks for a child tenant's token (MSSP). */
int auth_token_prepare(lua_State *L, falcon_client *c, transfer_request *rq, buffer *form) {
    transfer_request_init(rq);
    buffer_init(form);
    if (c->client_id == NULL || c->client_secret == NULL) return no_credentials(L, "log in");
    append_field(form, "client_id", c->client_id);
    append_field(form, "client_secret", c->client_secret);
    if (c->member_cid != NULL) append_field(form, "member_cid", c->member_cid);
    return form_request(L, rq, "/oauth2/token", form);
}

/* Standard base64 with padding (RFC 4648 section 4), as HTTP Basic wants it (RFC 7617). */
static void base64_append(buffer *out, const unsigned char *in, size_t len) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len) v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        char quad[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
                        i + 1 < len ? alphabet[(v >> 6) & 63] : '=', i + 2 < len ? alphabet[v & 63] : '='};
        buffer_append(out, quad, 4);
    }
}

/* Basic auth is encoded here (a few lines) so the header can be wiped; libcurl's own copy could not. */
/* RFC 7009's revocation: the token in the form, the client authenticated by Basic auth, as the Falcon
 * API's /oauth2/revoke takes it. */
int auth_revoke_prepare(lua_State *L, falcon_client *c, transfer_request *rq, buffer *form) {
    transfer_request_init(rq);
    buffer_init(form);
    if (c->client_id == NULL || c->client_secret == NULL) return no_credentials(L, "revoke the token");
    if (c->token == NULL) {
        errors_push(L, "auth", "cannot revoke: no token is held", 0);
        return 0;
    }
    append_field(form, "token", c->token);
    /* "id:secret" and the header line both hold the secret: each buffer is wiped as soon as it is copied
     * on (libcurl's list copies the line; that copy is wiped with the list). */
    buffer pair, header;
    buffer_init(&pair);
    buffer_init(&header);
    buffer_append_str(&pair, c->client_id);
    buffer_append_char(&pair, ':');
    buffer_append_str(&pair, c->client_secret);
    buffer_append_str(&header, "Authorization: Basic ");
    base64_append(&header, (const unsigned char *)pair.data, pair.len);
    buffer_wipe_free(&pair);
    const char *line = buffer_cstr(&header);
    int ok = line != NULL && append_header(rq, line);
    buffer_wipe_free(&header);
    if (!ok) {
        errors_push(L, "transport", "out of memory while building an auth request", 0);
        return 0;
    }
    return form_request(L, rq, "/oauth2/revoke", form);
}

/* -> status, headers, nil, info{expires_in} on success; status, headers, body, info when the API
 * refused; nil, err on transport failure. A refusal (a 4xx with the API's error envelope) is returned as
 * an answer, not an error, so that the engine can show the API's own reason (bad credentials, a region
 * to use instead); its body holds no token. The token stays in C: only its lifetime is pushed. */
int auth_token_finish(lua_State *L, falcon_client *c, transfer_request *rq, transfer_result *rs) {
    if (rs->code != CURLE_OK || (rs->status != 201 && rs->status != 200)) return transfer_push(L, rq, rs, 1);
    token_response tr;
    /* Out of memory while reading is not the server's fault: a transport failure, where a refusal is an
     * auth error that says what was wrong with the answer (never its bytes). */
    enum token_status read = token_read(L, rs->body.data ? rs->body.data : "", rs->body.len, &tr);
    buffer_wipe_free(&rs->body); /* the body held the token */
    if (read == TOKEN_NO_MEMORY) return errors_push(L, "transport", "out of memory while reading the token", 1);
    if (read == TOKEN_REFUSED) {
        lua_pushfstring(L, "the token endpoint answered without a usable access_token (%s)", tr.why);
        errors_push(L, "auth", lua_tostring(L, -1), 1);
        lua_remove(L, -3);
        return 2;
    }
    /* Only now is the old token let go: a refused answer above leaves the client with the one it had. */
    client_forget_token(c);
    c->token = tr.access_token;
    /* The server's word, bounded: a token claiming more than a day is renewed daily all the same. */
    double lifetime = tr.expires_in > 0 ? tr.expires_in : DEFAULT_TOKEN_LIFETIME;
    if (lifetime > MAX_TOKEN_LIFETIME) lifetime = MAX_TOKEN_LIFETIME;
    c->token_expires_at = now_seconds() + lifetime;
    int n = transfer_push(L, rq, rs, 0);
    lua_pop(L, 1); /* nothing was saved to a file: info is the token's lifetime instead */
    lua_createtable(L, 0, 1);
    lua_pushnumber(L, lifetime);
    lua_setfield(L, -2, "expires_in");
    return n;
}

/* -> status, headers, body, nil; the held token is forgotten on success (200, the endpoint's answer for
 * a revoked token). On any other outcome it is kept: the server may still honour it, and if it does not,
 * the next call's 401 renews it. */
int auth_revoke_finish(lua_State *L, falcon_client *c, transfer_request *rq, transfer_result *rs) {
    if (rs->code == CURLE_OK && rs->status == 200) client_forget_token(c);
    return transfer_push(L, rq, rs, 1);
}
