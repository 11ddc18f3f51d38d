/* json_decode.c: yajl's parse events turned into Lua values (see json_decode.h).
 *
 * Values under construction live on a Lua stack: each open array or object is a table there, an object's
 * pending key sits above it, and a finished value is stored into the table below it. A one-shot decode
 * (falcon.json.decode) builds on the caller's stack. A decoder fed over time (a response body, a stream)
 * builds on a thread of its own, so that it may be fed from any coroutine or from a libcurl callback; its
 * partial values are handed to each protected parse as arguments and handed back as results, so a memory
 * error raised while parsing is caught there and never unwinds through libcurl. */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "compat.h"
#include "errors.h"
#include "json_decode.h"
#include "yajl_memory.h"

#define DECODER_MT "falcon.core.json_decoder"

/* The decoder thread's stack: the parse function, then what the parse function receives as its
 * arguments: the decoder, the queue of complete values, the array metatable, the values being built. */
enum { SLOT_PARSE = 1, SLOT_DECODER, SLOT_QUEUE, SLOT_ARRAY_MT };
/* The same, as seen inside the protected parse (one lower: the function is not an argument). */
enum { ARG_DECODER = 1, ARG_QUEUE, ARG_ARRAY_MT };

typedef struct {
    int is_array;
    lua_Integer count;   /* items (arrays) or keys (objects) stored so far */
    int last_items;      /* sizes of the last array and object closed at this depth: the size hint of */
    int last_keys;       /* the next one (pages repeat their shapes), saving the table's regrowth */
} frame;

/* A presize hint is at most this many slots: a hostile page of a million-item arrays must not make
 * the next array allocate a million slots before a single item is read. */
#define SIZE_HINT_MAX 1024

struct json_decoder {
    yajl_handle parser;  /* made by the first parse after a reset (under protection: it allocates) */
    yajl_memory memory;  /* every block the parser holds */
    lua_State *L;        /* where values are built during a parse; where yajl's allocator raises */
    lua_State *thread;   /* the decoder's own thread; NULL for a one-shot decode */
    int thread_ref;
    json_limits limits;
    int many;            /* a stream of values rather than one document */
    int queue;           /* index in L of the queue of complete values; 0: they stay on L (one-shot) */
    int array_mt;        /* index in L of the array metatable */
    long depth;
    frame *frames;
    long frames_cap;
    size_t doc_bytes;    /* bytes of the document (stream value) under way, for max_size */
    size_t fed;          /* bytes fed since the start, for error positions */
    int pending;         /* a stream holds the start of a value not complete yet */
    int clean;           /* the parser finished its input without error: it can read another text */
    lua_Integer head, tail; /* queue entries head+1 .. tail are ready */
    lua_Integer values;  /* complete top-level values since the start */
    enum json_status status;
    const char *chunk;   /* the protected parse's input */
    size_t chunk_len;
    int finishing;
    char message[200];
};

/* Records the first failure (a later one is its consequence) in the decoder's fixed buffer: a message
 * must be producible when memory has run out. Returns 0, which stops yajl when returned from a callback. */
static int fail(json_decoder *d, enum json_status status, const char *fmt, ...) {
    if (d->status != JSON_OK) return 0;
    d->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof d->message, fmt, ap);
    va_end(ap);
    return 0; /* what a yajl callback returns to stop the parse */
}

/* Room for n more values on the building stack, checked at every depth: nesting comes from untrusted
 * input, and the C API guarantees only a few free slots. */
static int room(json_decoder *d, int n) {
    if (lua_checkstack(d->L, n)) return 1;
    /* Below the smallest stack limit of the VMs (Lua 5.1's 8,000 slots for a C function; LuaJIT's 65,500
     * for the whole stack), a stack that cannot grow is out of memory, not too deep. */
    if (lua_gettop(d->L) + n < 7000) return fail(d, JSON_MEMORY, "out of memory while decoding JSON");
    return fail(d, JSON_LIMIT, "JSON nested too deep for the Lua stack (at depth %ld)", d->depth);
}

/* A finished value on top of L goes into its container, or is a complete top-level value. */
static int add(json_decoder *d) {
    lua_State *L = d->L;
    if (d->depth == 0) {
        /* yajl reads every text as a stream of values (so that a handle can be reused, below); one
         * document is one value. */
        if (!d->many && d->values > 0) return fail(d, JSON_INVALID, "invalid JSON: trailing garbage after the value");
        d->values++;
        d->tail++;
        if (d->queue) lua_rawseti(L, d->queue, d->tail);
        return 1;
    }
    frame *f = &d->frames[d->depth - 1];
    if (f->is_array) {
        lua_rawseti(L, -2, ++f->count);
    } else {
        lua_rawset(L, -3);
        f->count++;
    }
    return 1;
}

/* Each value callback: room on the stack for the value and what add() may push, then the value. */
static int on_null(void *ctx) {
    json_decoder *d = ctx;
    if (!room(d, 2)) return 0;
    lua_pushlightuserdata(d->L, NULL);
    return add(d);
}

static int on_boolean(void *ctx, int value) {
    json_decoder *d = ctx;
    if (!room(d, 2)) return 0;
    lua_pushboolean(d->L, value);
    return add(d);
}

/* An integer written without fraction or exponent that the VM holds exactly: a lua_Integer on 5.3+
 * (64 bits), a double below 2^53 on 5.1/LuaJIT. Returns 0 for anything else (then it is a float). */
static int push_integer(lua_State *L, const char *text, size_t len) {
    size_t i = 0;
    int negative = len > 0 && text[0] == '-';
    if (negative) i++;
    if (i == len) return 0;
#if LUA_VERSION_NUM >= 503
    const unsigned long long most = negative ? (unsigned long long)LUA_MAXINTEGER + 1 : LUA_MAXINTEGER;
#else
    const unsigned long long most = 1ULL << 53;
#endif
    unsigned long long value = 0;
    for (; i < len; i++) {
        unsigned digit = (unsigned)(unsigned char)text[i] - '0';
        if (digit > 9) return 0;
        if (value > (most - digit) / 10) return 0;
        value = value * 10 + digit;
    }
#if LUA_VERSION_NUM >= 503
    if (!negative) lua_pushinteger(L, (lua_Integer)value);
    else if (value == (unsigned long long)LUA_MAXINTEGER + 1) lua_pushinteger(L, LUA_MININTEGER);
    else lua_pushinteger(L, -(lua_Integer)value);
#else
    lua_pushnumber(L, negative ? -(lua_Number)value : (lua_Number)value);
#endif
    return 1;
}

/* yajl has checked the syntax; strtod rounds correctly. (It reads the C locale's decimal point, which
 * is the one Lua runs with unless a program calls os.setlocale.) */
static int push_float(json_decoder *d, const char *text, size_t len) {
    char small[64];
    char *copy = len < sizeof small ? small : malloc(len + 1);
    if (copy == NULL) return fail(d, JSON_MEMORY, "out of memory while decoding JSON");
    memcpy(copy, text, len);
    copy[len] = '\0';
    double value = strtod(copy, NULL);
    if (copy != small) free(copy);
    lua_pushnumber(d->L, (lua_Number)value);
    return 1;
}

/* yajl hands numbers over as text (no yajl_integer/yajl_double callbacks), so this file decides how a
 * number becomes a Lua value, the same on every VM and without yajl's own overflow errors. */
static int on_number(void *ctx, const char *text, size_t len) {
    json_decoder *d = ctx;
    if (!room(d, 2)) return 0;
    if (!push_integer(d->L, text, len) && !push_float(d, text, len)) return 0;
    return add(d);
}

/* max_string bounds one Lua string (a key or a value) after unescaping: yajl has already decoded it,
 * but it is not yet a Lua string, which is where the memory would go. */
static int string_fits(json_decoder *d, size_t len) {
    if (len <= d->limits.max_string) return 1;
    return fail(d, JSON_LIMIT, "JSON string longer than %sstring (%zu bytes)", d->limits.names, d->limits.max_string);
}

/* With its length: JSON's \u0000 puts a NUL inside a string, and a Lua string keeps it. */
static int on_string(void *ctx, const unsigned char *text, size_t len) {
    json_decoder *d = ctx;
    if (!string_fits(d, len) || !room(d, 2)) return 0;
    lua_pushlstring(d->L, (const char *)text, len);
    return add(d);
}

/* The key waits on the stack above its object until its value arrives (add() stores the pair). */
static int on_key(void *ctx, const unsigned char *text, size_t len) {
    json_decoder *d = ctx;
    if (!string_fits(d, len) || !room(d, 2)) return 0;
    lua_pushlstring(d->L, (const char *)text, len);
    return 1;
}

/* A new array or object: max_depth first (a limit the caller chose, named in the error), then the
 * frames (doubled as nesting grows, kept between documents), then the table, presized from the last
 * sibling of the same depth. Arrays get the array mark, so `[]` encodes back as `[]`. */
static int open_container(json_decoder *d, int is_array) {
    if (d->depth >= d->limits.max_depth)
        return fail(d, JSON_LIMIT, "JSON nested deeper than %sdepth (%ld levels)", d->limits.names, d->limits.max_depth);
    if (d->depth == d->frames_cap) {
        long cap = d->frames_cap ? d->frames_cap * 2 : 16;
        frame *grown = realloc(d->frames, (size_t)cap * sizeof *grown);
        if (grown == NULL) return fail(d, JSON_MEMORY, "out of memory while decoding JSON");
        memset(grown + d->frames_cap, 0, (size_t)(cap - d->frames_cap) * sizeof *grown);
        d->frames = grown;
        d->frames_cap = cap;
    }
    /* the table, then a key and a value above it */
    if (!room(d, 4)) return 0;
    frame *f = &d->frames[d->depth];
    if (is_array) lua_createtable(d->L, f->last_items, 0);
    else lua_createtable(d->L, 0, f->last_keys);
    if (is_array) {
        lua_pushvalue(d->L, d->array_mt);
        lua_setmetatable(d->L, -2);
    }
    f->is_array = is_array;
    f->count = 0;
    d->depth++;
    return 1;
}

/* The container is finished: its size becomes the next one's hint, and it is added like any value. */
static int close_container(json_decoder *d) {
    frame *f = &d->frames[--d->depth];
    int size = f->count < SIZE_HINT_MAX ? (int)f->count : SIZE_HINT_MAX;
    if (f->is_array) f->last_items = size;
    else f->last_keys = size;
    return add(d);
}

static int on_start_map(void *ctx) { return open_container(ctx, 0); }
static int on_start_array(void *ctx) { return open_container(ctx, 1); }
static int on_end(void *ctx) { return close_container(ctx); }

/* In yajl_callbacks' order: null, boolean, integer, double, number, string, start_map, map_key, end_map,
 * start_array, end_array. */
static const yajl_callbacks callbacks = {
    on_null, on_boolean, NULL, NULL, on_number, on_string, on_start_map, on_key, on_end, on_start_array, on_end,
};

/* Makes the parser when there is none; d->L must be a state a memory error may unwind (yajl_memory.h). */
static void ensure_parser(json_decoder *d) {
    if (d->parser != NULL) return;
    yajl_alloc_funcs funcs = yajl_memory_funcs(&d->memory);
    d->parser = yajl_alloc(&callbacks, &funcs, d);
    if (d->parser != NULL) yajl_config(d->parser, yajl_allow_multiple_values, 1);
}

/* Frees the parser by its blocks (yajl_free would walk a handle a failed allocation left half updated). */
static void discard_parser(json_decoder *d) {
    yajl_memory_free(&d->memory);
    d->parser = NULL;
}

/* After yajl_parse/yajl_complete_parse: a syntax error becomes the decoder's failure. A cancelled
 * parse already says why. */
static void note_status(json_decoder *d, yajl_status status) {
    if (status == yajl_status_ok || d->status != JSON_OK) return;
    if (status == yajl_status_client_canceled) {
        fail(d, JSON_MEMORY, "JSON decoding stopped");
        return;
    }
    unsigned char *text = yajl_get_error(d->parser, 0, NULL, 0);
    size_t len = text ? strlen((char *)text) : 0;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ')) len--;
    fail(d, JSON_INVALID, "invalid JSON at byte %zu: %.*s", d->fed + yajl_get_bytes_consumed(d->parser),
         (int)len, text ? (char *)text : "");
    if (text != NULL) yajl_free_error(d->parser, text);
}

/* Runs inside lua_pcall on the decoder's thread (run()): the values being built are its arguments (so
 * they are on T's stack, where yajl's callbacks build), and are returned, all of them, as its results. */
static int protected_parse(lua_State *T) {
    json_decoder *d = lua_touserdata(T, ARG_DECODER);
    d->L = T;
    d->queue = ARG_QUEUE;
    d->array_mt = ARG_ARRAY_MT;
    ensure_parser(d);
    yajl_status status = d->finishing ? yajl_complete_parse(d->parser)
                                      : yajl_parse(d->parser, (const unsigned char *)d->chunk, d->chunk_len);
    note_status(d, status);
    lua_checkstack(T, 4); /* slack for the next call's function and for pulls */
    return lua_gettop(T);
}

/* One protected parse on the decoder's thread: the values under construction go in as arguments and
 * come back as results. Never raises: it runs inside libcurl's write callback and http_parser's body
 * callback, where a Lua error would unwind through C frames that are not Lua's. A memory error spends the
 * decoder (the values half built are dropped with the parser); the caller reads d->status. */
static enum json_status run(json_decoder *d, const char *data, size_t len, int finishing) {
    lua_State *T = d->thread;
    d->chunk = data;
    d->chunk_len = len;
    d->finishing = finishing;
    lua_pushvalue(T, SLOT_PARSE);
    lua_insert(T, SLOT_DECODER);
    if (lua_pcall(T, lua_gettop(T) - SLOT_DECODER, LUA_MULTRET, 0) != 0) {
        /* Only a memory error is raised while parsing (a limit cancels the parse): the decoder is spent. */
        fail(d, JSON_MEMORY, "out of memory while decoding JSON");
        lua_settop(T, SLOT_PARSE);
        discard_parser(d);
    }
    d->L = NULL;
    return d->status;
}

/* JSON's four whitespace characters (RFC 8259), not isspace's six. */
static int all_space(const char *data, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r' && data[i] != '\n') return 0;
    return 1;
}

/* max_size counts the bytes of the document, or of each stream value (from the line it starts on), before
 * yajl sees them: a text past the limit is refused without being parsed. */
enum json_status json_decoder_feed(json_decoder *d, const char *data, size_t len) {
    while (d->status == JSON_OK && len > 0) {
        /* A stream is fed a line at a time, so that each value's size is counted from its own line. */
        const char *newline = d->many ? memchr(data, '\n', len) : NULL;
        size_t piece = newline ? (size_t)(newline - data) + 1 : len;
        if (piece > d->limits.max_size - d->doc_bytes) {
            fail(d, JSON_LIMIT, "JSON text longer than %ssize (%zu bytes)", d->limits.names, d->limits.max_size);
            break;
        }
        d->doc_bytes += piece;
        run(d, data, piece, 0);
        d->fed += piece;
        /* A value cannot span a line break at depth 0 (strings hold no raw newline; a line break ends a
         * number): a stream whose last line ended there holds nothing pending. */
        if (newline != NULL) d->pending = d->depth > 0;
        else d->pending = d->pending || d->depth > 0 || !all_space(data, piece);
        if (newline != NULL && d->depth == 0) d->doc_bytes = 0;
        data += piece;
        len -= piece;
    }
    return d->status;
}

/* clean: the text ended between values with no error, so the parser may read the next document as it
 * stands (json_decoder_reset keeps it); any other parser is dropped there. */
enum json_status json_decoder_finish(json_decoder *d) {
    /* A stream may end between values (yajl would call an empty stream a premature end). */
    if (d->status == JSON_OK && (!d->many || d->pending)) run(d, NULL, 0, 1);
    d->pending = 0;
    d->clean = d->status == JSON_OK && d->depth == 0;
    return d->status;
}

/* The queue is a table on the decoder's thread, indexes head+1..tail; a value handed out is cleared from
 * it at once (the decoder must not keep a caller's value alive), and an empty queue restarts at 1. */
int json_decoder_pull(json_decoder *d, lua_State *L) {
    lua_State *T = d->thread;
    if (T == NULL || d->head >= d->tail || lua_gettop(T) < SLOT_ARRAY_MT) return 0;
    lua_rawgeti(T, SLOT_QUEUE, ++d->head);
    lua_pushnil(T);
    lua_rawseti(T, SLOT_QUEUE, d->head);
    if (d->head == d->tail) d->head = d->tail = 0;
    lua_xmove(T, L, 1);
    return 1;
}

/* Reused for every answer of a pooled decoder, so it must be cheap when nothing was fed (the first
 * line), and must leave nothing of the last answer: not its values, not a parser in mid-text. */
enum json_status json_decoder_reset(json_decoder *d) {
    lua_State *T = d->thread;
    if (d->fed == 0 && d->status == JSON_OK && d->values == 0) return JSON_OK;
    if (T == NULL || lua_gettop(T) < SLOT_ARRAY_MT) return d->status; /* spent by a memory error */
    while (d->head < d->tail) {
        lua_pushnil(T);
        lua_rawseti(T, SLOT_QUEUE, ++d->head);
    }
    /* Values half built by a failed parse sit above the fixed slots: dropped with the rest. */
    lua_settop(T, SLOT_ARRAY_MT);
    /* A parser that finished a text cleanly reads the next one as it would a fresh one; any other is
     * dropped (yajl has no reset), and the next parse makes another. */
    if (!d->clean) discard_parser(d);
    d->clean = 0;
    d->depth = 0;
    d->doc_bytes = d->fed = 0;
    d->pending = 0;
    d->head = d->tail = d->values = 0;
    d->status = JSON_OK;
    d->message[0] = '\0';
    return d->status;
}

/* The message lives in the decoder (a fixed buffer): valid until its next reset. */
const char *json_decoder_error(const json_decoder *d) {
    return d->status == JSON_OK ? NULL : d->message;
}

/* Frees the parser's blocks and the frames and lets go of the thread; safe twice (close, then __gc). The
 * userdata itself is Lua's. */
static void decoder_release(lua_State *L, json_decoder *d) {
    discard_parser(d);
    free(d->frames);
    d->frames = NULL;
    d->frames_cap = 0;
    if (d->thread_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, d->thread_ref);
    d->thread_ref = LUA_NOREF;
    d->thread = NULL;
}

/* A decoder userdata, freed by __gc whatever happens; raises when out of memory. Its parser is made by
 * the first parse (under protection: yajl_alloc allocates, and its failure must unwind somewhere). The
 * allocator is told where the state yajl runs under is kept (d->L), which each parse sets. */
static json_decoder *new_decoder(lua_State *L, const json_limits *limits, int many) {
    json_decoder *d = lua_newuserdata(L, sizeof *d);
    memset(d, 0, sizeof *d);
    d->thread_ref = LUA_NOREF;
    yajl_memory_init(&d->memory, &d->L, 0);
    luaL_setmetatable(L, DECODER_MT);
    d->limits = *limits;
    d->many = many;
    return d;
}

/* The thread's stack starts as SLOT_PARSE..SLOT_ARRAY_MT (see the enum at the top); the thread is
 * anchored by a registry reference the decoder owns, released by decoder_release. */
json_decoder *json_decoder_push(lua_State *L, const json_limits *limits, int many) {
    if (!lua_checkstack(L, 6)) errors_raise(L, "json", "out of Lua stack");
    json_decoder *d = new_decoder(L, limits, many);
    lua_State *T = lua_newthread(L);
    lua_pushcfunction(L, protected_parse);
    lua_pushlightuserdata(L, d);
    lua_newtable(L);
    luaL_getmetatable(L, JSON_ARRAY_MT);
    lua_xmove(L, T, 4);
    d->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    d->thread = T;
    return d;
}

/* ---- a pool of request decoders ------------------------------------------------------------------ */

/* registry[&pool_key]: idle one-document decoders, each with its thread and parser, reused by the next
 * requests instead of made anew for every call. Sized at registration: recycling never allocates. */
static char pool_key;
#define POOL_MAX 16

/* Pushes the pool table (made by json_register). */
static void push_pool(lua_State *L) {
    lua_pushlightuserdata(L, &pool_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
}

/* A pooled decoder was reset when it came back (json_decoder_recycle), so it is ready; only its limits
 * are the new request's. The pool's slot is cleared before the decoder is handed out, so a decoder is
 * never in the pool and in use at once. */
json_decoder *json_decoder_acquire(lua_State *L, const json_limits *limits) {
    if (!lua_checkstack(L, 3)) errors_raise(L, "json", "out of Lua stack");
    push_pool(L);
    int n = (int)falcon_rawlen(L, -1);
    if (n > 0) {
        lua_rawgeti(L, -1, n);
        lua_pushnil(L);
        lua_rawseti(L, -3, n);
        lua_remove(L, -2);
        json_decoder *d = lua_touserdata(L, -1);
        d->limits = *limits;
        return d;
    }
    lua_pop(L, 1);
    return json_decoder_push(L, limits, 0);
}

/* Only a clean one-document decoder goes back (a stream decoder is its caller's; one spent by a memory
 * error cannot be reset), and only up to POOL_MAX; any other is left to the collector. Allocates nothing:
 * it runs from request_free, which __gc may call. */
void json_decoder_recycle(lua_State *L, int ref) {
    if (ref == LUA_NOREF || ref == LUA_REFNIL) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    json_decoder *d = luaL_testudata(L, -1, DECODER_MT);
    push_pool(L);
    int n = lua_istable(L, -1) ? (int)falcon_rawlen(L, -1) : POOL_MAX;
    /* Values not handed out are dropped now, not when the decoder is next used. */
    if (d != NULL && d->thread != NULL && !d->many && n < POOL_MAX && json_decoder_reset(d) == JSON_OK) {
        lua_pushvalue(L, -2);
        lua_rawseti(L, -2, n + 1);
    }
    lua_pop(L, 2);
}

/* ---- limits ------------------------------------------------------------------------------------ */

/* A limit is a whole number from 1 to 2^53 (what a double holds exactly, so the size_t cast is exact). */
static size_t limit_field(lua_State *L, int idx, const char *key, size_t fallback, const char *names,
                          const char *who) {
    lua_getfield(L, idx, key); /* named in errors with the caller's prefix: max_depth, json_max_depth */
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return fallback;
    }
    if (lua_type(L, -1) != LUA_TNUMBER || !falcon_isintegral(L, -1) || lua_tonumber(L, -1) < 1 ||
        lua_tonumber(L, -1) > 9007199254740992.0)
        errors_raise(L, who, "bad option '%s%s' (positive integer expected, got %s)", names, key + 4,
                   lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
    size_t value = (size_t)lua_tonumber(L, -1);
    lua_pop(L, 1);
    return value;
}

/* An unknown key is refused (a misspelt max_depth would otherwise be no limit at all). */
void json_limits_from_lua(lua_State *L, int idx, json_limits *limits, const char *names, const char *who) {
    limits->max_depth = JSON_DEFAULT_MAX_DEPTH;
    limits->max_size = JSON_DEFAULT_MAX_SIZE;
    limits->max_string = JSON_DEFAULT_MAX_STRING;
    limits->names = names;
    if (idx == 0 || lua_isnoneornil(L, idx)) return;
    if (lua_type(L, idx) != LUA_TTABLE)
        errors_raise(L, who, "bad argument 'limits' (table expected, got %s)", luaL_typename(L, idx));
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (key == NULL || (strcmp(key, "max_depth") != 0 && strcmp(key, "max_size") != 0 && strcmp(key, "max_string") != 0))
            errors_raise(L, who, "unknown option '%s' (max_depth, max_size or max_string)", key ? key : luaL_typename(L, -2));
        lua_pop(L, 1);
    }
    size_t depth = limit_field(L, idx, "max_depth", JSON_DEFAULT_MAX_DEPTH, names, who);
    limits->max_depth = depth > 1000000 ? 1000000 : (long)depth; /* the Lua stack ends well before */
    limits->max_size = limit_field(L, idx, "max_size", JSON_DEFAULT_MAX_SIZE, names, who);
    limits->max_string = limit_field(L, idx, "max_string", JSON_DEFAULT_MAX_STRING, names, who);
}

/* ---- Lua functions ------------------------------------------------------------------------------ */

/* core.json_decode(text[, limits]) -> value; raises on invalid JSON or an exceeded limit. The one-shot
 * path builds straight on the caller's stack (no thread, no queue: one value, left on top), and yajl's
 * allocator raises on the caller's state, where the decoder userdata below the value is collected like
 * any other (its __gc frees the parser's blocks). max_size is checked before any byte is parsed. */
static int lua_json_decode(lua_State *L) {
    size_t len;
    const char *text = errors_check_string(L, 1, "json.decode", "text", &len);
    json_limits limits;
    json_limits_from_lua(L, 2, &limits, "max_", "json.decode");
    lua_settop(L, 2);
    luaL_getmetatable(L, JSON_ARRAY_MT); /* 3 */
    json_decoder *d = new_decoder(L, &limits, 0); /* 4; the value is built above it */
    d->L = L; /* a memory error inside yajl is raised to the caller; __gc frees the parser's blocks */
    d->array_mt = 3;
    ensure_parser(d);
    if (len > limits.max_size)
        fail(d, JSON_LIMIT, "JSON text longer than %ssize (%zu bytes)", limits.names, limits.max_size);
    else
        note_status(d, yajl_parse(d->parser, (const unsigned char *)text, len));
    d->fed = len;
    if (d->status == JSON_OK) note_status(d, yajl_complete_parse(d->parser));
    if (d->status != JSON_OK) {
        lua_pushstring(L, d->message);
        decoder_release(L, d);
        return lua_error(L);
    }
    decoder_release(L, d);
    return 1;
}

/* The open decoder at 1 (a closed one has no thread to read from). */
static json_decoder *decoder_check(lua_State *L) {
    json_decoder *d = errors_check_udata(L, 1, DECODER_MT, "json.decoder");
    if (d->thread == NULL) errors_raise(L, "json.decoder", "the decoder is closed");
    return d;
}

/* nil, message: a stream's bad input is the peer's, returned for the caller to handle (luasocket's
 * convention), where json.decode of a string the caller holds raises. */
static int push_failure(lua_State *L, const json_decoder *d) {
    lua_pushnil(L);
    lua_pushstring(L, d->message);
    return 2;
}

/* decoder:feed(bytes) -> true | nil, message (a failure is final) */
static int decoder_feed(lua_State *L) {
    json_decoder *d = decoder_check(L);
    size_t len;
    const char *data = errors_check_string(L, 2, "decoder:feed", "bytes", &len);
    if (json_decoder_feed(d, data, len) != JSON_OK) return push_failure(L, d);
    lua_pushboolean(L, 1);
    return 1;
}

/* decoder:next() -> the next complete value, or nil (JSON null is falcon.json.null, never nil) */
static int decoder_next(lua_State *L) {
    json_decoder *d = decoder_check(L);
    if (!json_decoder_pull(d, L)) lua_pushnil(L);
    return 1;
}

/* decoder:finish() -> true | nil, message: the input ended; a value left open is an error. */
static int decoder_finish(lua_State *L) {
    json_decoder *d = decoder_check(L);
    if (json_decoder_finish(d) != JSON_OK) return push_failure(L, d);
    lua_pushboolean(L, 1);
    return 1;
}

/* __gc, __close and decoder:close(): frees now what the decoder holds. */
static int decoder_gc(lua_State *L) {
    decoder_release(L, errors_check_udata(L, 1, DECODER_MT, "json.decoder"));
    return 0;
}

/* The state and how many values wait, never a value (the stream may carry anything). */
static int decoder_tostring(lua_State *L) {
    json_decoder *d = errors_check_udata(L, 1, DECODER_MT, "json.decoder");
    lua_pushfstring(L, "falcon.json.decoder (%s, %d ready)",
                    d->thread == NULL ? "closed" : d->status == JSON_OK ? "ok" : "failed", (int)(d->tail - d->head));
    return 1;
}

#define LIMITS_MT "falcon.core.json_limits"

/* core.json_limits(t) -> the client's limits, read once (named json_max_* in errors); a request's `json`
 * field takes them as they are, where a table would be read again on every call. */
static int lua_json_limits(lua_State *L) {
    json_limits limits;
    json_limits_from_lua(L, 1, &limits, "json_max_", NULL);
    json_limits *kept = lua_newuserdata(L, sizeof *kept);
    *kept = limits;
    luaL_setmetatable(L, LIMITS_MT);
    return 1;
}

/* A kept limits userdata is copied as it is (the engine makes one per client, so the common call reads
 * no table); a table is read and checked as an option would be. */
void json_limits_from_request(lua_State *L, int idx, json_limits *limits) {
    const json_limits *kept = luaL_testudata(L, idx, LIMITS_MT);
    if (kept != NULL) *limits = *kept;
    else json_limits_from_lua(L, idx, limits, "json_max_", "request");
}

/* core.json_decoder([limits]) -> a decoder of newline-delimited JSON (any whitespace between values). */
static int lua_json_decoder(lua_State *L) {
    json_limits limits;
    json_limits_from_lua(L, 1, &limits, "max_", "json.decoder");
    json_decoder_push(L, &limits, 1);
    return 1;
}

/* Registers the metatables, the pool (sized once, so recycling never allocates) and the module's
 * functions. */
void json_register(lua_State *L, int module_idx) {
    static const luaL_Reg methods[] = {{"feed", decoder_feed}, {"next", decoder_next}, {"finish", decoder_finish},
                                       {"close", decoder_gc},  {NULL, NULL}};
    if (luaL_newmetatable(L, DECODER_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, decoder_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, decoder_gc);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, decoder_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    /* The mark falcon.json.array puts on tables; every decoded array carries it. */
    if (luaL_newmetatable(L, JSON_ARRAY_MT)) {
        lua_pushliteral(L, JSON_ARRAY_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_setfield(L, module_idx, "json_array_mt");
    lua_pushlightuserdata(L, &pool_key);
    lua_createtable(L, POOL_MAX, 0);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_pushcfunction(L, lua_json_decode);
    lua_setfield(L, module_idx, "json_decode");
    lua_pushcfunction(L, lua_json_decoder);
    lua_setfield(L, module_idx, "json_decoder");
    luaL_newmetatable(L, LIMITS_MT);
    lua_pop(L, 1);
    lua_pushcfunction(L, lua_json_limits);
    lua_setfield(L, module_idx, "json_limits");
}
