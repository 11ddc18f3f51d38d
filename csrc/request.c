/* request.c: reading a request table from Lua into a transfer_request. Every check that can raise runs
 * before anything is allocated. The caller's table may change or be dropped while the transfer runs (a
 * progress callback, another coroutine): every Lua string the request points into is put in an anchor
 * table of the request's own, referenced from the registry until request_free. */
#include <string.h>

#include "compat.h"
#include "errors.h"
#include "headers.h"
#include "json_decode.h"
#include "mime.h"
#include "multipart.h"
#include "query.h"
#include "request.h"

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

/* Keeps req[key] alive for as long as the request: the pointers taken from it stay valid. */
static void anchor_value(lua_State *L, int anchor, int req, const char *key) {
    lua_getfield(L, req, key);
    lua_rawseti(L, anchor, (int)falcon_rawlen(L, anchor) + 1);
}

int request_from_lua(lua_State *L, int idx, transfer_request *rq, buffer *query) {
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    errors_check_table(L, idx, "request", "request");
    int top = lua_gettop(L);
    transfer_request_init(rq);
    buffer_init(query);
    rq->method = checked_method(L, idx);
    rq->route = checked_route(L, idx);
    int query_idx = optional_field(L, idx, "query", LUA_TTABLE, "array of {name, value}");
    int headers = optional_field(L, idx, "headers", LUA_TTABLE, "table");
    int body = optional_field(L, idx, "body", LUA_TSTRING, "string");
    int content_type = optional_field(L, idx, "content_type", LUA_TSTRING, "string");
    int form = optional_field(L, idx, "form", LUA_TTABLE, "array of parts");
    int save_to = optional_field(L, idx, "save_to", LUA_TSTRING, "path string");
    int progress = optional_field(L, idx, "progress", LUA_TFUNCTION, "function");
    int on_data = optional_field(L, idx, "on_data", LUA_TFUNCTION, "function");
    int auth = optional_field(L, idx, "auth", LUA_TSTRING, "'bearer' or 'none'");
    int repeatable = optional_field(L, idx, "repeatable", LUA_TBOOLEAN, "boolean");
    lua_getfield(L, idx, "json"); /* JSON limits: a table, or what core.json_limits made of one */
    int json = lua_isnil(L, -1) ? 0 : lua_gettop(L);
    if (json && lua_type(L, json) != LUA_TTABLE && lua_type(L, json) != LUA_TUSERDATA)
        errors_raise(L, "request", "bad field 'json' (table of JSON limits expected, got %s)", luaL_typename(L, json));
    lua_getfield(L, idx, "binary");
    rq->binary = lua_toboolean(L, -1);
    if (headers) check_headers(L, headers);
    if (form) mime_check(L, form, "request");
    if (body && form) errors_raise(L, "request", "'body' and 'form' cannot both be given");
    if (content_type) {
        const char *ct = lua_tostring(L, content_type);
        if (strpbrk(ct, "\r\n") != NULL || strlen(ct) != falcon_rawlen(L, content_type))
            errors_raise(L, "request", "bad field 'content_type' (CR, LF and NUL are not allowed)");
    }
    if (save_to && strlen(lua_tostring(L, save_to)) != falcon_rawlen(L, save_to))
        errors_raise(L, "request", "bad field 'save_to' (contains a NUL byte)");
    rq->bearer = 1;
    if (auth) {
        const char *a = lua_tostring(L, auth);
        if (strcmp(a, "none") == 0) rq->bearer = 0;
        else if (strcmp(a, "bearer") != 0) errors_raise(L, "request", "bad field 'auth' ('bearer' or 'none' expected)");
    }
    /* Only GET and HEAD may be sent twice unless the caller vouches for the request (read-only POSTs). */
    rq->repeatable = repeatable ? lua_toboolean(L, repeatable)
                                : strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
    /* The decoder of a JSON answer, made now (it may raise); anchored below with the other references. */
    int decoder = 0;
    if (json) {
        json_limits limits;
        json_limits_from_request(L, json, &limits);
        rq->json = json_decoder_acquire(L, &limits);
        decoder = lua_gettop(L);
    }
    if (query_idx) query_build(L, query_idx, query, "request"); /* raises only before its first append */

    /* From here on nothing raises but memory. */
    lua_createtable(L, 4, 0);
    int anchor = lua_gettop(L);
    anchor_value(L, anchor, idx, "method");
    anchor_value(L, anchor, idx, "route");
    rq->query = query->data;
    rq->query_len = query->len;
    if (body) {
        rq->body = lua_tolstring(L, body, &rq->body_len);
        anchor_value(L, anchor, idx, "body");
    }
    if (save_to) {
        rq->save_to = lua_tostring(L, save_to);
        anchor_value(L, anchor, idx, "save_to");
    }
    int ok = !query->failed;
    /* A form's Content-Type must carry the encoder's boundary: it replaces any content_type given. */
    if (ok && form) {
        buffer type;
        buffer_init(&type);
        ok = (rq->form = multipart_from_lua(L, form, anchor)) != NULL && multipart_content_type(rq->form, &type) &&
             buffer_cstr(&type) != NULL && append_header(&rq->headers, "Content-Type", type.data);
        buffer_free(&type);
    } else if (ok && content_type) {
        ok = append_header(&rq->headers, "Content-Type", lua_tostring(L, content_type));
    }
    if (ok && headers) {
        lua_pushnil(L);
        while (ok && lua_next(L, headers)) {
            ok = append_header(&rq->headers, lua_tostring(L, -2), lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        if (!ok) lua_pop(L, 1);
    }
    if (progress) {
        lua_pushvalue(L, progress);
        rq->progress_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    if (on_data) {
        lua_pushvalue(L, on_data);
        rq->on_data_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_pushvalue(L, anchor);
    rq->anchor_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (decoder) {
        lua_pushvalue(L, decoder);
        rq->json_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_settop(L, top);
    return ok;
}

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
