/* token.c: the token endpoint's answer read by yajl into wiped C memory (see token.h).
 *
 * Where the token's bytes are while it is read, and who wipes each copy:
 *   - the answer's body (the caller's buffer): auth.c wipes it once this returns;
 *   - yajl hands a string without escapes as a pointer into that body, and one with escapes (a server
 *     may write "/" as "\/") decoded into its decode buffer: a yajl block, wiped by yajl_memory_free
 *     and, when it grows, by the allocator (yajl_memory.c);
 *   - the one copy that is kept, secret_dup'ed here and owned by the caller after TOKEN_OK (freed and
 *     wiped here on any other outcome).
 * Nothing is pushed to Lua: the protected call's only Lua value is a memory error's message. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "compat.h"
#include "secret.h"
#include "token.h"
#include "yajl_memory.h"

/* expires_in is a count of seconds: 63 characters hold any number a server means by it, exponent and
 * all; a longer one is refused rather than copied to a buffer that grows with the input. */
#define NUMBER_MAX_LEN 63

/* What the value yajl reads next at depth 1 belongs to: the key before it said. */
enum field { FIELD_OTHER, FIELD_TOKEN, FIELD_EXPIRES };
enum kind { KIND_OBJECT, KIND_ARRAY, KIND_STRING, KIND_NUMBER, KIND_LITERAL };

typedef struct {
    lua_State *L;        /* the protected call's state: where yajl's allocator raises */
    yajl_memory memory;  /* every block yajl takes, wiped before it is freed */
    const char *json;    /* the answer, borrowed from the caller */
    size_t len;
    int depth;           /* objects and arrays open; the answer itself is depth 1 */
    enum field field;    /* set by a key at depth 1, used by its value */
    int have_expires;
    int no_memory;       /* the token's copy could not be made */
    const char *why;     /* the first reason the answer is refused, or NULL */
    token_response *out;
} token_reader;

/* RFC 6750's b64token: the token becomes a header line, so nothing else may pass (CR/LF would inject
 * headers). Bounded like a header line. A NUL in the middle (JSON's \u0000) stops the scan and so fails
 * the length check: a C string would end there. */
int token_usable(const char *t, size_t len) {
    if (len == 0 || len > TOKEN_MAX_LEN) return 0;
    size_t i = 0;
    while (i < len && t[i] != 0 && (isalnum((unsigned char)t[i]) || strchr("-._~+/", t[i]) != NULL)) i++;
    if (i == 0) return 0; /* "=" alone, or "=abc": the padding only ends a token */
    while (i < len && t[i] == '=') i++;
    return i == len;
}

/* Records why the answer is refused (the first reason stands) and returns 0, which makes yajl stop. */
static int refuse(token_reader *r, const char *why) {
    if (r->why == NULL) r->why = why;
    return 0;
}

/* Every value passes here first. The answer itself must be an object; a value at depth 1 is that of the
 * key before it, and access_token must be a string, expires_in a number. Returns the field the value is
 * for, or -1 when the answer is refused. */
static int value_for(token_reader *r, enum kind kind) {
    if (r->depth == 0) return kind == KIND_OBJECT ? FIELD_OTHER : refuse(r, "the answer is not a JSON object") - 1;
    if (r->depth > 1) return FIELD_OTHER;
    enum field field = r->field;
    r->field = FIELD_OTHER;
    if (field == FIELD_TOKEN && kind != KIND_STRING) return refuse(r, "access_token is not a string") - 1;
    if (field == FIELD_EXPIRES && kind != KIND_NUMBER) return refuse(r, "expires_in is not a number") - 1;
    return (int)field;
}

/* true, false and null: never kept, but refused where access_token or expires_in is expected. */
static int on_literal(void *ctx) {
    return value_for(ctx, KIND_LITERAL) >= 0;
}

static int on_boolean(void *ctx, int value) {
    (void)value;
    return on_literal(ctx);
}

static int on_string(void *ctx, const unsigned char *text, size_t len) {
    token_reader *r = ctx;
    int field = value_for(r, KIND_STRING);
    if (field != FIELD_TOKEN) return field >= 0;
    if (!token_usable((const char *)text, len))
        return refuse(r, "it has characters a bearer token cannot have (RFC 6750), or is empty or longer than 8192 bytes");
    r->out->access_token = secret_dup((const char *)text, len);
    if (r->out->access_token == NULL) r->no_memory = 1;
    return r->out->access_token != NULL;
}

/* yajl has checked the number's grammar; strtod reads it (a value past a double is HUGE_VAL, which auth.c
 * bounds to a day like any long lifetime). */
static int on_number(void *ctx, const char *text, size_t len) {
    token_reader *r = ctx;
    int field = value_for(r, KIND_NUMBER);
    if (field != FIELD_EXPIRES) return field >= 0;
    if (len > NUMBER_MAX_LEN) return refuse(r, "expires_in is longer than a number of seconds can be");
    char copy[NUMBER_MAX_LEN + 1];
    memcpy(copy, text, len);
    copy[len] = '\0';
    r->out->expires_in = strtod(copy, NULL);
    return 1;
}

/* A key at depth 1 names the next value; each of the two fields read may be named once (two tokens in
 * one answer: which would the server mean?). */
static int on_key(void *ctx, const unsigned char *key, size_t len) {
    token_reader *r = ctx;
    if (r->depth != 1) return 1;
    r->field = FIELD_OTHER;
    if (len == 12 && memcmp(key, "access_token", 12) == 0) {
        if (r->out->access_token != NULL) return refuse(r, "access_token is named twice");
        r->field = FIELD_TOKEN;
    } else if (len == 10 && memcmp(key, "expires_in", 10) == 0) {
        if (r->have_expires) return refuse(r, "expires_in is named twice");
        r->have_expires = 1;
        r->field = FIELD_EXPIRES;
    }
    return 1;
}

/* Checked before the level is entered: the answer's own object is level 1, so at most 63 levels of
 * containers can sit inside it. */
static int open_container(token_reader *r, enum kind kind) {
    if (value_for(r, kind) < 0) return 0;
    if (r->depth >= TOKEN_MAX_DEPTH) return refuse(r, "the answer is nested deeper than 64 levels");
    r->depth++;
    return 1;
}

static int on_start_map(void *ctx) { return open_container(ctx, KIND_OBJECT); }
static int on_start_array(void *ctx) { return open_container(ctx, KIND_ARRAY); }

/* yajl matches every end with the start it opened (a stray one is a syntax error), so depth stays >= 0. */
static int on_end(void *ctx) {
    ((token_reader *)ctx)->depth--;
    return 1;
}

/* Numbers come as text (on_number), so that yajl never converts one itself. */
static const yajl_callbacks callbacks = {
    on_literal, on_boolean, NULL, NULL, on_number, on_string, on_start_map, on_key, on_end, on_start_array, on_end,
};

/* The protected call: the whole answer in one yajl_parse, then yajl_complete_parse, which refuses a text
 * that ended early. yajl's defaults are the strict reading: UTF-8 checked, no comments, one value, nothing
 * after it. The parser is not freed here but with its blocks (yajl_memory_free), whatever happened. */
static int parse(lua_State *L) {
    token_reader *r = lua_touserdata(L, 1);
    r->L = L;
    yajl_alloc_funcs funcs = yajl_memory_funcs(&r->memory);
    yajl_handle parser = yajl_alloc(&callbacks, &funcs, r);
    if (parser == NULL) { /* not with these functions (they raise instead), but yajl_alloc may say so */
        r->no_memory = 1;
        return 0;
    }
    yajl_status status = yajl_parse(parser, (const unsigned char *)r->json, r->len);
    if (status == yajl_status_ok) status = yajl_complete_parse(parser);
    if (status == yajl_status_error) refuse(r, "the answer is not valid JSON");
    return 0;
}

/* The reader lives on this stack frame and reaches the protected call as a light userdata (nothing for
 * Lua to allocate or collect). Whatever happened inside, yajl's blocks are wiped and freed here, and a
 * token copy is kept only on TOKEN_OK. */
enum token_status token_read(lua_State *L, const char *json, size_t len, token_response *out) {
    token_reader r;
    memset(&r, 0, sizeof r);
    r.json = json;
    r.len = len;
    r.out = out;
    out->access_token = NULL;
    out->expires_in = -1;
    out->why = NULL;
    yajl_memory_init(&r.memory, &r.L, 1);
    /* Only a memory error can be raised in there (yajl's allocator, or Lua pushing its message). */
    int raised = falcon_cpcall(L, parse, &r) != 0;
    if (raised) lua_pop(L, 1);
    yajl_memory_free(&r.memory);
    if (!raised && !r.no_memory && r.why == NULL && out->access_token != NULL) return TOKEN_OK;
    secret_free(&out->access_token);
    if (raised || r.no_memory) return TOKEN_NO_MEMORY;
    out->why = r.why != NULL ? r.why : "the answer has no access_token";
    return TOKEN_REFUSED;
}
