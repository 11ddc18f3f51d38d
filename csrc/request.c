/* request.c: reading a request table from Lua into a transfer_request. Every check that can raise runs
 * before anything is allocated. The caller's table may change or be dropped while the transfer runs (a
 * progress callback, another coroutine): every Lua string the request points into is put in an anchor
 * table of the request's own, referenced from the registry until request_free. */
#include <string.h>
#include <sys/stat.h>

#include "compat.h"
#include "errors.h"
#include "headers.h"
#include "json_decode.h"
#include "mime.h"
#include "multipart.h"
#include "query.h"
#include "request.h"

/* The method goes on the request line as it is: upper-case letters only (no space, CR or LF to end the
 * line early), at most 16 (the longest registered method is shorter). The returned pointer is the Lua
 * string's, kept alive by the anchor (request_from_lua). */
static const char *checked_method(lua_State *L, int req) {
    lua_getfield(L, req, "method");
    const char *m = lua_tostring(L, -1);
    if (lua_type(L, -1) != LUA_TSTRING) errors_raise(L, "request", "bad field 'method' (string expected, got %s)", luaL_typename(L, -1));
    size_t n = strlen(m);
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z') n = 0;
    if (n == 0 || n > 16) errors_raise(L, "request", "bad field 'method' (upper-case HTTP method expected)");
    lua_pop(L, 1);
    return m;
}

/* The route is a path the builder (payload/init.lua) has percent-encoded: '?' and '#' would start a query or
 * fragment of their own (the query is the request's query field, encoded here), and a space or control
 * character would break the request line. */
static const char *checked_route(lua_State *L, int req) {
    lua_getfield(L, req, "route");
    if (lua_type(L, -1) != LUA_TSTRING) errors_raise(L, "request", "bad field 'route' (string expected, got %s)", luaL_typename(L, -1));
    size_t len;
    const char *p = lua_tolstring(L, -1, &len);
    int ok = len > 0 && p[0] == '/';
    for (size_t i = 0; ok && i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        ok = ch > 0x20 && ch != 0x7f && ch != '?' && ch != '#';
    }
    if (!ok) errors_raise(L, "request", "bad field 'route' ('/route' without spaces, controls, '?' or '#' expected)");
    lua_pop(L, 1);
    return p;
}

/* A caller's header: a token name (RFC 9110), and a value without CR, LF or NUL, which would end the
 * line and start a header the caller did not write (injection). Other control characters pass, as HTTP
 * allows them in a value (obs-text aside) and libcurl sends them. */
static void check_headers(lua_State *L, int headers) {
    lua_pushnil(L);
    while (lua_next(L, headers)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            errors_raise(L, "request", "bad field 'headers' (string names and values expected)");
        size_t nlen, vlen;
        const char *name = lua_tolstring(L, -2, &nlen), *value = lua_tolstring(L, -1, &vlen);
        int ok = nlen > 0;
        for (size_t i = 0; ok && i < nlen; i++) ok = headers_token_char((unsigned char)name[i]);
        if (!ok) errors_raise(L, "request", "bad header name (HTTP token expected)");
        for (size_t i = 0; i < vlen; i++) {
            unsigned char ch = (unsigned char)value[i];
            if (ch == '\r' || ch == '\n' || ch == 0)
                errors_raise(L, "request", "bad header '%s' (CR, LF and NUL are not allowed)", name);
        }
        lua_pop(L, 1);
    }
}

/* "name: value" appended to *list (which the request owns); 0 when out of memory, *list unchanged. The
 * line is built in a buffer first because curl_slist_append takes one C string. */
static int append_header(struct curl_slist **list, const char *name, const char *value) {
    buffer line;
    buffer_init(&line);
    buffer_append_str(&line, name);
    buffer_append_str(&line, ": ");
    buffer_append_str(&line, value);
    const char *s = buffer_cstr(&line);
    struct curl_slist *grown = s ? curl_slist_append(*list, s) : NULL;
    buffer_free(&line);
    if (grown == NULL) return 0;
    *list = grown;
    return 1;
}

/* req[key] pushed and its stack slot returned when present and of the type; 0 when nil; raises for any
 * other type (a number where a string was meant is a caller's mistake here, not a conversion). */
static int optional_field(lua_State *L, int req, const char *key, int type, const char *expected) {
    lua_getfield(L, req, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (lua_type(L, -1) != type)
        errors_raise(L, "request", "bad field '%s' (%s expected, got %s)", key, expected, luaL_typename(L, -1));
    return lua_gettop(L); /* popped by request_from_lua: the request table keeps the value alive */
}

/* Keeps req[key] alive for as long as the request: the pointers taken from it stay valid. The anchor is
 * a plain list; only its keeping the values alive matters, never their order. */
static void anchor_value(lua_State *L, int anchor, int req, const char *key) {
    lua_getfield(L, req, key);
    lua_rawseti(L, anchor, (int)falcon_rawlen(L, anchor) + 1);
}

/* Stack slots of the request table's optional fields (0 when absent). */
typedef struct {
    int query, headers, body, body_path, content_type, form, save_to, progress, on_data, auth, repeatable, json;
    long long body_size; /* of the file at body_path, when the request was read */
} request_fields;

/* body_path: a regular file whose bytes are the body (streamed); its size is taken now, and a file that
 * changes size before it is sent fails the send. */
static void check_body_path(lua_State *L, request_fields *f) {
    const char *path = lua_tostring(L, f->body_path);
    struct stat st;
    if (strlen(path) != falcon_rawlen(L, f->body_path)) errors_raise(L, "request", "bad field 'body_path' (contains a NUL byte)");
    if (f->body || f->form) errors_raise(L, "request", "'body_path' cannot be given with 'body' or 'form'");
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        errors_raise(L, "request", "bad field 'body_path' (a readable regular file expected: %s)", path);
    f->body_size = (long long)st.st_size;
}

/* Reads every field and runs every check that can raise; sets method, route and the flags of rq. The
 * values are left on the stack (their slots in f), which keeps them alive until the anchor takes them. */
static void read_fields(lua_State *L, int idx, transfer_request *rq, request_fields *f) {
    rq->method = checked_method(L, idx);
    rq->route = checked_route(L, idx);
    f->query = optional_field(L, idx, "query", LUA_TTABLE, "array of {name, value}");
    f->headers = optional_field(L, idx, "headers", LUA_TTABLE, "table");
    f->body = optional_field(L, idx, "body", LUA_TSTRING, "string");
    f->body_path = optional_field(L, idx, "body_path", LUA_TSTRING, "path string");
    f->content_type = optional_field(L, idx, "content_type", LUA_TSTRING, "string");
    f->form = optional_field(L, idx, "form", LUA_TTABLE, "array of parts");
    f->save_to = optional_field(L, idx, "save_to", LUA_TSTRING, "path string");
    f->progress = optional_field(L, idx, "progress", LUA_TFUNCTION, "function");
    f->on_data = optional_field(L, idx, "on_data", LUA_TFUNCTION, "function");
    f->auth = optional_field(L, idx, "auth", LUA_TSTRING, "'bearer' or 'none'");
    f->repeatable = optional_field(L, idx, "repeatable", LUA_TBOOLEAN, "boolean");
    lua_getfield(L, idx, "json"); /* JSON limits: a table, or what core.json_limits made of one */
    f->json = lua_isnil(L, -1) ? 0 : lua_gettop(L);
    if (f->json && lua_type(L, f->json) != LUA_TTABLE && lua_type(L, f->json) != LUA_TUSERDATA)
        errors_raise(L, "request", "bad field 'json' (table of JSON limits expected, got %s)", luaL_typename(L, f->json));
    /* binary: the operation produces bytes (a download), so its 2xx body is never decoded as JSON. */
    lua_getfield(L, idx, "binary");
    rq->binary = lua_toboolean(L, -1);
    if (f->headers) check_headers(L, f->headers);
    if (f->form) mime_check(L, f->form, "request");
    if (f->body && f->form) errors_raise(L, "request", "'body' and 'form' cannot both be given");
    if (f->body_path) check_body_path(L, f);
    if (f->content_type) {
        const char *ct = lua_tostring(L, f->content_type);
        if (strpbrk(ct, "\r\n") != NULL || strlen(ct) != falcon_rawlen(L, f->content_type))
            errors_raise(L, "request", "bad field 'content_type' (CR, LF and NUL are not allowed)");
    }
    if (f->save_to && strlen(lua_tostring(L, f->save_to)) != falcon_rawlen(L, f->save_to))
        errors_raise(L, "request", "bad field 'save_to' (contains a NUL byte)");
    rq->bearer = 1;
    if (f->auth) {
        const char *a = lua_tostring(L, f->auth);
        if (strcmp(a, "none") == 0) rq->bearer = 0;
        else if (strcmp(a, "bearer") != 0) errors_raise(L, "request", "bad field 'auth' ('bearer' or 'none' expected)");
    }
    /* Only GET and HEAD may be sent twice unless the caller vouches for the request (read-only POSTs). */
    rq->repeatable = f->repeatable ? lua_toboolean(L, f->repeatable)
                                   : strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
}

/* The header lines of the request: a form's Content-Type (it must carry the encoder's boundary, so it
 * replaces any content_type given), or content_type, then the caller's headers. 0 when out of memory.
 * The lines are copies the request owns (rq->headers), so the caller's headers table may change while
 * the request is in flight. */
static int build_headers(lua_State *L, transfer_request *rq, const request_fields *f, int anchor) {
    int ok = 1;
    if (f->form) {
        buffer type;
        buffer_init(&type);
        ok = multipart_from_lua(L, f->form, anchor, &rq->form) && multipart_content_type(rq->form, &type) &&
             buffer_cstr(&type) != NULL && append_header(&rq->headers, "Content-Type", type.data);
        buffer_free(&type);
    } else if (f->content_type) {
        ok = append_header(&rq->headers, "Content-Type", lua_tostring(L, f->content_type));
    }
    if (ok && f->headers) {
        lua_pushnil(L);
        while (ok && lua_next(L, f->headers)) {
            ok = append_header(&rq->headers, lua_tostring(L, -2), lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        if (!ok) lua_pop(L, 1);
    }
    return ok;
}

/* A registry reference to the value at idx (0: none). The reference is the request's: request_free
 * releases it. luaL_ref may raise a memory error; the refs taken before it are in rq already. */
static int ref_of(lua_State *L, int idx) {
    if (idx == 0) return LUA_NOREF;
    lua_pushvalue(L, idx);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Two phases: read_fields raises for any bad field before anything is allocated; then the request is
 * built, where only a memory error can be raised. The caller has made rq and query part of a userdata
 * first (perform.c, multi.c, exchange.c), so either kind of raise leaves nothing unowned. */
int request_from_lua(lua_State *L, int idx, transfer_request *rq, buffer *query) {
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    errors_check_table(L, idx, "request", "request");
    int top = lua_gettop(L);
    transfer_request_init(rq);
    buffer_init(query);
    request_fields f;
    read_fields(L, idx, rq, &f);
    /* The decoder of a JSON answer, made now (it may raise); anchored below with the other references. */
    int decoder = 0;
    if (f.json) {
        json_limits limits;
        json_limits_from_request(L, f.json, &limits);
        rq->json = json_decoder_acquire(L, &limits);
        decoder = lua_gettop(L);
    }
    if (f.query) query_build(L, f.query, query, "request"); /* raises only before its first append */

    /* From here on nothing raises but memory; what C memory there is (the query, the form, the header
     * lines) is already the request's, whose owner (an exchange's userdata) frees it with request_free. */
    lua_createtable(L, 4, 0);
    int anchor = lua_gettop(L);
    anchor_value(L, anchor, idx, "method");
    anchor_value(L, anchor, idx, "route");
    rq->query = query->data;
    rq->query_len = query->len;
    if (f.body) {
        rq->body = lua_tolstring(L, f.body, &rq->body_len);
        anchor_value(L, anchor, idx, "body");
    }
    if (f.save_to) {
        rq->save_to = lua_tostring(L, f.save_to);
        anchor_value(L, anchor, idx, "save_to");
    }
    /* Memory failures are collected in ok rather than returned at once: every reference below must be
     * taken (or not) before returning, so that request_free releases exactly what was taken. */
    int ok = !query->failed;
    /* The file body is read through the form encoder, as an upload's file part is, under every driver. */
    if (ok && f.body_path) ok = (rq->form = multipart_file_body(lua_tostring(L, f.body_path), f.body_size)) != NULL;
    ok = ok && build_headers(L, rq, &f, anchor);
    rq->progress_ref = ref_of(L, f.progress);
    rq->on_data_ref = ref_of(L, f.on_data);
    rq->anchor_ref = ref_of(L, anchor);
    rq->json_ref = ref_of(L, decoder);
    lua_settop(L, top);
    return ok;
}

/* Releases every reference the request took and frees its C memory; safe on a request read only in
 * part (each reference starts as LUA_NOREF) and twice. The decoder goes back to the pool, not away. */
void request_free(lua_State *L, transfer_request *rq, buffer *query) {
    if (rq->progress_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, rq->progress_ref);
    rq->progress_ref = LUA_NOREF;
    if (rq->on_data_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, rq->on_data_ref);
    rq->on_data_ref = LUA_NOREF;
    if (rq->anchor_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, rq->anchor_ref);
    rq->anchor_ref = LUA_NOREF;
    json_decoder_recycle(L, rq->json_ref);
    rq->json_ref = LUA_NOREF;
    rq->json = NULL;
    transfer_request_free(rq);
    buffer_free(query);
}
