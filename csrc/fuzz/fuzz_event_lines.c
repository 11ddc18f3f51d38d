/* libFuzzer harness: the line reader of an Event Streams feed (lua/falcon/streams/lines.lua), in an embedded
 * Lua 5.4, fed hostile feed bytes whole, cut in three pieces where the first two input bytes say, and a
 * line at a time (the third byte picks the offset already taken, or none). The reader is Lua over the core's JSON decoder (that
 * decoder alone is fuzz_json_decode's); this covers what it adds: line splitting across pieces, what makes
 * a line an event, offsets outside the whole numbers, events sent again, a bad line after good ones.
 * It must never raise; it hands over only events with a whole offset from 0 below 10^15, each after the
 * one before (and after the one taken); and however the bytes are cut it hands over the same events and
 * fails or not alike (a line over max_line may let a cut run hand over more first: see fuzz_json_decode). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "../buffer.h"
#include "../json_decode.h"

#ifndef FALCON_LUA_DIR
#error "build with -DFALCON_LUA_DIR=\"<repository>/lua\" (the Makefile does)"
#endif

#define MAX_LINE 256

static lua_State *L;
static int new_reader_ref; /* event_lines.new */

typedef struct {
    buffer events;     /* "offset;" per event handed over */
    double last;       /* the offset taken last (or the initial one); -1: none */
    int failed;        /* the reader said it cannot read on */
    int size_limited;  /* ... because a line was longer than max_line */
} run_state;

/* deliver(event, offset): the reader's callback; checks what it is handed. */
static int deliver(lua_State *S) {
    run_state *r = lua_touserdata(S, lua_upvalueindex(1));
    if (lua_type(S, 1) != LUA_TTABLE || lua_type(S, 2) != LUA_TNUMBER) __builtin_trap();
    double offset = (double)lua_tonumber(S, 2);
    if (!(offset >= 0 && offset < 1e15) || offset != floor(offset) || offset <= r->last) __builtin_trap();
    /* The offset handed over is the event's own metadata.offset. */
    lua_getfield(S, 1, "metadata");
    if (lua_type(S, -1) != LUA_TTABLE) __builtin_trap();
    lua_getfield(S, -1, "offset");
    if (lua_type(S, -1) != LUA_TNUMBER || (double)lua_tonumber(S, -1) != offset) __builtin_trap();
    r->last = offset;
    char num[32];
    snprintf(num, sizeof num, "%.0f;", offset);
    buffer_append_str(&r->events, num);
    return 0;
}

static void setup(void) {
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_pushliteral(L, FALCON_LUA_DIR "/?.lua");
    lua_setfield(L, -2, "path");
    /* falcon.core with only its JSON part: the reader needs nothing else of it. */
    lua_getfield(L, -1, "loaded");
    lua_newtable(L);
    json_register(L, lua_gettop(L));
    lua_setfield(L, -2, "falcon.core");
    lua_pop(L, 2);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "falcon.streams.lines");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_event_lines: %s\n", lua_tostring(L, -1));
        __builtin_trap();
    }
    lua_getfield(L, -1, "new");
    new_reader_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
}

/* Feeds one piece to the reader at index `reader`; false once the reader failed. */
static int feed(int reader, int callback, const char *piece, size_t len, run_state *r) {
    lua_getfield(L, reader, "feed");
    lua_pushvalue(L, reader);
    lua_pushlstring(L, piece, len);
    lua_pushvalue(L, callback);
    if (lua_pcall(L, 3, 2, 0) != LUA_OK) { /* the reader raised: never allowed */
        fprintf(stderr, "fuzz_event_lines: raised: %s\n", lua_tostring(L, -1));
        __builtin_trap();
    }
    int ok = lua_toboolean(L, -2);
    if (!ok) {
        const char *why = lua_tostring(L, -1);
        if (why == NULL) __builtin_trap(); /* a failure says why */
        r->failed = 1;
        r->size_limited = strstr(why, "longer than") != NULL;
    }
    lua_pop(L, 2);
    return ok;
}

/* Reads data in the pieces between cuts[0] = 0 < ... < cuts[n] = size with a new reader that has taken
 * `taken` (< 0: nothing). */
static void run(const char *data, const size_t *cuts, size_t n, double taken, run_state *r) {
    int top = lua_gettop(L);
    buffer_init(&r->events);
    r->last = taken;
    r->failed = r->size_limited = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, new_reader_ref);
    lua_pushinteger(L, MAX_LINE);
    if (taken >= 0) lua_pushnumber(L, taken);
    else lua_pushnil(L);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) __builtin_trap();
    int reader = lua_gettop(L);
    lua_pushlightuserdata(L, r);
    lua_pushcclosure(L, deliver, 1);
    int callback = lua_gettop(L);
    for (size_t i = 0; i < n; i++)
        if (!feed(reader, callback, data + cuts[i], cuts[i + 1] - cuts[i], r)) break;
    lua_getfield(L, reader, "close");
    lua_pushvalue(L, reader);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) __builtin_trap();
    lua_settop(L, top);
}

/* a's events are b's, or the first of them. */
static int is_prefix(const buffer *a, const buffer *b) {
    return a->len <= b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Cut runs hand over what the whole run does, and fail or not alike. */
static void compare(const run_state *whole, const run_state *cut) {
    if (whole->events.failed || cut->events.failed) __builtin_trap();
    if (whole->failed != cut->failed) __builtin_trap();
    int same = whole->events.len == cut->events.len && is_prefix(&whole->events, &cut->events);
    /* A line over max_line is refused whole at once, but a cut one may hand over a first value on it. */
    int prefix = (whole->size_limited || cut->size_limited) && is_prefix(&whole->events, &cut->events);
    if (!same && !prefix) __builtin_trap();
}

/* The cuts after every line: 0, each newline's end, size (at most `max` + 1 of them). */
static size_t line_cuts(const char *text, size_t len, size_t *cuts, size_t max) {
    size_t n = 0;
    cuts[0] = 0;
    for (size_t i = 0; i < len && n + 1 < max; i++)
        if (text[i] == '\n' && i + 1 < len) cuts[++n] = i + 1;
    cuts[++n] = len;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    if (L == NULL) setup(); /* one state for the run: a fresh one per input would dominate the time */
    const char *text = (const char *)data + 3;
    size_t len = size - 3;
    size_t cut1 = (size_t)data[0] % (len + 1), cut2 = (size_t)data[1] % (len + 1);
    if (cut1 > cut2) { size_t t = cut1; cut1 = cut2; cut2 = t; }
    double taken = data[2] == 0 ? -1 : (double)(data[2] - 1);
    static size_t lines[1025];
    size_t whole_cuts[] = {0, len}, three_cuts[] = {0, cut1, cut2, len};
    run_state whole, cut, by_line;
    run(text, whole_cuts, 1, taken, &whole);
    run(text, three_cuts, 3, taken, &cut);
    run(text, lines, line_cuts(text, len, lines, 1024), taken, &by_line);
    compare(&whole, &cut);
    compare(&whole, &by_line);
    buffer_free(&whole.events);
    buffer_free(&cut.events);
    buffer_free(&by_line.events);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
