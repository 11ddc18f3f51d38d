/* auth.c: OAuth2 client credentials (token) and revocation. The secrets and the token stay in C:
 * request bodies and the Basic header are built in buffers that are wiped after use, and a token
 * response body is parsed here and wiped, never handed to Lua. */
#include <string.h>
#include <sys/time.h>

#include "buffer.h"
#include "compat.h"
#include "errors.h"
#include "query.h"
#include "secret.h"
#include "token.h"
#include "transfer.h"

#define DEFAULT_TOKEN_LIFETIME 1799.0 /* what the API issues; used when expires_in is missing */

static double now_seconds(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static int no_credentials(lua_State *L, const char *what) {
    lua_pushfstring(L, "cannot %s: no client credentials (give client_id and client_secret, or set "
                       "FALCON_CLIENT_ID and FALCON_CLIENT_SECRET)", what);
    errors_push(L, "auth", lua_tostring(L, -1), 0);
    lua_remove(L, -3);
    return 2;
}

static void append_field(buffer *b, const char *name, const char *value) {
    if (b->len > 0) buffer_append_char(b, '&');
    buffer_append_str(b, name);
    buffer_append_char(b, '=');
    query_escape(b, value, strlen(value));
}

/* Runs a form POST whose body is secret; the caller frees rq/rs. */
static void post_secret_form(lua_State *L, falcon_client *c, const char *path, buffer *form,
                             transfer_request *rq, transfer_result *rs) {
    rq->method = "POST";
    rq->path = path;
    rq->body = form->data;
    rq->body_len = form->len;
    rq->secret_body = 1;
    struct curl_slist *h = curl_slist_append(rq->headers, "Content-Type: application/x-www-form-urlencoded");
    if (h != NULL) rq->headers = h;
    h = curl_slist_append(rq->headers, "Accept: application/json");
    if (h != NULL) rq->headers = h;
    transfer_perform(L, c, rq, rs);
}

/* client:authenticate() -> status, headers, nil, info{expires_in} on success;
 * status, headers, body, info when the API refused; nil, err on transport failure. */
int auth_lua_authenticate(lua_State *L) {
    falcon_client *c = client_check(L, 1);
    if (c->client_id == NULL || c->client_secret == NULL) return no_credentials(L, "log in");
    buffer form;
    buffer_init(&form);
    append_field(&form, "client_id", c->client_id);
    append_field(&form, "client_secret", c->client_secret);
    if (c->member_cid != NULL) append_field(&form, "member_cid", c->member_cid);
    if (form.failed) {
        buffer_wipe_free(&form);
        return errors_push(L, "transport", "out of memory while building the token request", 0);
    }
    transfer_request rq;
    transfer_result rs;
    transfer_request_init(&rq);
    post_secret_form(L, c, "/oauth2/token", &form, &rq, &rs);
    buffer_wipe_free(&form);

    int n;
    if (rs.code == CURLE_OK && (rs.status == 201 || rs.status == 200)) {
        token_response tr = {NULL, -1};
        int parsed = token_parse(rs.body.data ? rs.body.data : "", rs.body.len, &tr);
        buffer_wipe_free(&rs.body); /* the body held the token */
        if (parsed) {
            client_forget_token(c);
            c->token = tr.access_token;
            double lifetime = tr.expires_in > 0 ? tr.expires_in : DEFAULT_TOKEN_LIFETIME;
            c->token_expires_at = now_seconds() + lifetime;
            n = transfer_push(L, &rq, &rs, 0);
            lua_pushnumber(L, lifetime);
            lua_setfield(L, -2, "expires_in");
        } else {
            n = errors_push(L, "auth", "the token endpoint answered without a readable access_token", 1);
        }
    } else {
        n = transfer_push(L, &rq, &rs, 1);
    }
    transfer_result_free(&rs);
    transfer_request_free(&rq);
    return n;
}

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

/* client:revoke() -> status, headers, body, info; the held token is forgotten on success.
 * Basic auth is encoded here (a few lines) so the header can be wiped; libcurl's own copy could not. */
int auth_lua_revoke(lua_State *L) {
    falcon_client *c = client_check(L, 1);
    if (c->client_id == NULL || c->client_secret == NULL) return no_credentials(L, "revoke the token");
    if (c->token == NULL) return errors_push(L, "auth", "cannot revoke: no token is held", 0);
    buffer form, pair, header;
    buffer_init(&form);
    buffer_init(&pair);
    buffer_init(&header);
    append_field(&form, "token", c->token);
    buffer_append_str(&pair, c->client_id);
    buffer_append_char(&pair, ':');
    buffer_append_str(&pair, c->client_secret);
    buffer_append_str(&header, "Authorization: Basic ");
    base64_append(&header, (const unsigned char *)pair.data, pair.len);
    buffer_wipe_free(&pair);
    const char *line = buffer_cstr(&header);
    transfer_request rq;
    transfer_request_init(&rq);
    rq.headers = line && !form.failed ? curl_slist_append(NULL, line) : NULL;
    buffer_wipe_free(&header);
    if (rq.headers == NULL) {
        buffer_wipe_free(&form);
        return errors_push(L, "transport", "out of memory while building the revoke request", 0);
    }
    transfer_result rs;
    post_secret_form(L, c, "/oauth2/revoke", &form, &rq, &rs);
    buffer_wipe_free(&form);
    if (rs.code == CURLE_OK && rs.status == 200) client_forget_token(c);
    int n = transfer_push(L, &rq, &rs, 1);
    transfer_result_free(&rs);
    transfer_request_free(&rq);
    return n;
}
