/* headers.c: turning raw response headers into a Lua table.
 *
 * Every driver keeps an answer's headers as one raw block, the bytes as they came (libcurl's header
 * callback, or response.c rebuilding them for sockets), and this file is the one reader of that block:
 * names are checked against RFC 9110's token rule, values trimmed of the optional whitespace around
 * them, anything else skipped rather than guessed at. A value is passed on as the server sent it,
 * control characters included: whoever shows one escapes it (the engine's log, APIError), and code that
 * acts on one (the rate limit, Retry-After, the region) reads it strictly. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compat.h"
#include "headers.h"

#define HEADERS_MT "falcon.core.headers"
/* A Falcon response carries 10 to 20 headers: sized once, the table is never rehashed while filled. */
#define HEADERS_PRESIZE 16

/* RFC 9110 separators: not allowed in a header name. A table, since every response header's name
 * goes through here. */
static const unsigned char separators[128] = {
    ['('] = 1, [')'] = 1, ['<'] = 1, ['>'] = 1, ['@'] = 1, [','] = 1, [';'] = 1, [':'] = 1, ['\\'] = 1,
    ['"'] = 1, ['/'] = 1, ['['] = 1, [']'] = 1, ['?'] = 1, ['='] = 1, ['{'] = 1, ['}'] = 1,
};

/* Also what request.c checks a caller's header names with: one rule for names in both directions. */
int headers_token_char(unsigned char c) {
    return c > 32 && c < 127 && !separators[c];
}

/* One line without its line end. A name with a character outside the token rule (a space before the
 * colon, obs-fold continuation lines, binary garbage) makes the line unreadable, and it is dropped, as
 * RFC 9112 section 5.1 asks of a space before the colon: a proxy and the client must not read one line
 * two ways. */
static void parse_line(const char *line, size_t len, header_fn fn, void *ud) {
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n')) len--;
    if (len == 0) return;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        fn(ud, NULL, 0, line, len);
        return;
    }
    size_t colon = 0;
    while (colon < len && line[colon] != ':') {
        if (!headers_token_char((unsigned char)line[colon])) return;
        colon++;
    }
    if (colon == 0 || colon == len) return;
    size_t start = colon + 1, end = len;
    while (start < end && (line[start] == ' ' || line[start] == '\t')) start++;
    while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t')) end--;
    fn(ud, line, colon, line + start, end - start);
}

/* A line ends at LF (a CR before it is trimmed by parse_line); a last line without one still counts,
 * so a block cut short loses nothing it has. */
void headers_parse(const char *block, size_t len, header_fn fn, void *ud) {
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(block + pos, '\n', len - pos);
        size_t line_end = nl ? (size_t)(nl - block) + 1 : len;
        parse_line(block + pos, line_end - pos, fn, ud);
        pos = line_end;
    }
}

/* What push_one needs: the state and the stack index of the table being filled (replaced when a new
 * block starts). */
typedef struct {
    lua_State *L;
    int table;
} push_state;

/* A repeated header is joined with ", " as HTTP allows (RFC 9110 section 5.3), so a table holds one
 * string per name as FalconPy's dict does. Names are kept as the server spelled them (lookups ignore
 * case through the metatable), so the table shows what was sent. Lua allocates here: a memory error may
 * be raised, and the caller owns no C memory that it would leak. */
static void push_one(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
    push_state *st = ud;
    lua_State *L = st->L;
    if (name == NULL) { /* new block: forget the previous one's headers */
        lua_createtable(L, 0, HEADERS_PRESIZE);
        lua_replace(L, st->table);
        return;
    }
    lua_pushlstring(L, name, nlen);
    lua_pushvalue(L, -1);
    lua_rawget(L, st->table);
    if (lua_isstring(L, -1)) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, value, vlen);
        lua_concat(L, 3);
    } else {
        lua_pop(L, 1);
        lua_pushlstring(L, value, vlen);
    }
    lua_rawset(L, st->table);
}

/* Only the last block counts: an answer through a proxy or after 100-continue carries several, and the
 * earlier ones are about the connection, not the answer. */
void headers_push(lua_State *L, const char *block, size_t len) {
    lua_createtable(L, 0, HEADERS_PRESIZE);
    push_state st = {L, lua_gettop(L)};
    if (block != NULL) headers_parse(block, len, push_one, &st);
    luaL_setmetatable(L, HEADERS_MT);
}

void headers_fields_init(header_fields *h, const buffer *block) {
    memset(h, 0, sizeof *h);
    h->block = block;
}

void headers_fields_reset(header_fields *h) {
    h->count = h->parsed = 0;
}

void headers_fields_free(header_fields *h) {
    free(h->fields);
    h->fields = NULL;
    h->count = h->cap = h->parsed = 0;
}

typedef struct {
    header_fields *h;
    const char *base; /* the block: offsets are taken from here */
    int failed;
} fields_state;

static void add_field(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
    fields_state *st = ud;
    header_fields *h = st->h;
    if (name == NULL) { /* a new block: the fields are the last block's */
        h->count = 0;
        return;
    }
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : HEADERS_PRESIZE;
        header_field *grown = realloc(h->fields, cap * sizeof *grown);
        if (grown == NULL) {
            st->failed = 1;
            return;
        }
        h->fields = grown, h->cap = cap;
    }
    h->fields[h->count++] = (header_field){(size_t)(name - st->base), nlen, (size_t)(value - st->base), vlen};
}

int headers_fields_update(header_fields *h) {
    const buffer *b = h->block;
    if (b->len < h->parsed) headers_fields_reset(h); /* started again without a reset (not by transfer.c) */
    if (b->data == NULL || b->len == h->parsed) return 1;
    /* Whole lines only: a line still arriving is read when it is complete. */
    const char *start = b->data + h->parsed;
    size_t end = b->len;
    while (end > h->parsed && b->data[end - 1] != '\n') end--;
    fields_state st = {h, b->data, 0};
    headers_parse(start, end - h->parsed, add_field, &st);
    h->parsed = end;
    return !st.failed;
}

const char *headers_fields_get(const header_fields *h, const char *name, size_t *len) {
    size_t n = strlen(name);
    for (size_t i = h->count; i-- > 0;) {
        const header_field *f = &h->fields[i];
        if (f->name_len == n && strncasecmp(h->block->data + f->name, name, n) == 0) {
            *len = f->value_len;
            return h->block->data + f->value;
        }
    }
    return NULL;
}

void headers_push_fields(lua_State *L, const header_fields *h) {
    lua_createtable(L, 0, h->count > HEADERS_PRESIZE ? (int)h->count : HEADERS_PRESIZE);
    push_state st = {L, lua_gettop(L)};
    for (size_t i = 0; i < h->count; i++) {
        const header_field *f = &h->fields[i];
        push_one(&st, h->block->data + f->name, f->name_len, h->block->data + f->value, f->value_len);
    }
    luaL_setmetatable(L, HEADERS_MT);
}

/* Header names are ASCII tokens: compared byte by byte, lengths first, never by the locale. */
static int ascii_casecmp(const char *a, size_t alen, const char *b, size_t blen) {
    if (alen != blen) return 1;
    for (size_t i = 0; i < alen; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 1;
    return 0;
}

/* __index: a miss on the exact name falls back to a case-insensitive scan (headers are few). */
static int headers_index(lua_State *L) {
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    size_t klen;
    const char *key = lua_tolstring(L, 2, &klen);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t nlen;
            const char *name = lua_tolstring(L, -2, &nlen);
            if (ascii_casecmp(name, nlen, key, klen) == 0) return 1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* For a request's own header list (where a caller's header replaces one the core would add): the name
 * must be followed by ':' so "Accept" does not match "Accept-Encoding: ...". */
int headers_list_has(const struct curl_slist *list, const char *name) {
    size_t n = strlen(name);
    for (const struct curl_slist *it = list; it != NULL; it = it->next)
        if (strncasecmp(it->data, name, n) == 0 && it->data[n] == ':') return 1;
    return 0;
}

/* __index only: the table is the caller's to read and change like any table (FalconPy's headers are a
 * plain dict too); only a lookup that misses falls back to the case-insensitive scan. */
void headers_register(lua_State *L) {
    if (luaL_newmetatable(L, HEADERS_MT)) {
        lua_pushcfunction(L, headers_index);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}
