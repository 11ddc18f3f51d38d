/* json_decode.h: JSON text to Lua values, fed in whatever chunks arrive. The parser is yajl (Debian's
 * libyajl-dev): an event parser that takes any split of the input, so a body is decoded while it arrives
 * and a newline-delimited stream is read value by value. The events become Lua values here:
 *   integers -> lua_Integer on 5.3+ when they fit in 64 bits, else a float; a fraction or exponent -> float;
 *               on LuaJIT/5.1 numbers as the VM has them
 *   arrays   -> tables with the falcon.json.array metatable (so that `[]` re-encodes as `[]`)
 *   null     -> the lightuserdata NULL (lua-cjson's cjson.null, falcon.json.null)
 * Depth, document size and string length are bounded; an exceeded limit is an error naming it. */
#ifndef FALCON_JSON_DECODE_H
#define FALCON_JSON_DECODE_H

#include <stddef.h>

#include <lua.h>

#define JSON_ARRAY_MT "falcon.json.array"

#define JSON_DEFAULT_MAX_DEPTH 1000
#define JSON_DEFAULT_MAX_SIZE ((size_t)256 * 1024 * 1024)
#define JSON_DEFAULT_MAX_STRING ((size_t)16 * 1024 * 1024)

typedef struct {
    long max_depth;    /* nesting levels of arrays and objects */
    size_t max_size;   /* bytes of JSON text of one document (of one value in a stream) */
    size_t max_string; /* bytes of one string or key, after unescaping */
    const char *names; /* how the limits are named in errors: "max_" or "json_max_" (client options) */
} json_limits;

enum json_status { JSON_OK = 0, JSON_INVALID, JSON_LIMIT, JSON_MEMORY };

typedef struct json_decoder json_decoder;

/* Reads {max_depth, max_size, max_string} from the table at idx (absent keys: defaults; idx 0 or a nil
 * value: all defaults). Raises naming a bad key. */
void json_limits_from_lua(lua_State *L, int idx, json_limits *limits, const char *names, const char *who);

/* A request's `json` field at idx: the userdata core.json_limits made, or a table read as above. */
void json_limits_from_request(lua_State *L, int idx, json_limits *limits);

/* Pushes a new decoder userdata whose values are built on a thread of its own (so any coroutine, or a
 * libcurl callback with no Lua state at hand, may feed it). many: a stream of values separated by
 * whitespace (newline-delimited JSON); else exactly one document. Raises when out of memory. */
json_decoder *json_decoder_push(lua_State *L, const json_limits *limits, int many);

/* A one-document decoder for a request: an idle one from the state's pool when there is one, else a new
 * one (json_decoder_push); pushed on L. Give it back with json_decoder_recycle(L, ref) where ref is a
 * registry reference to it (the reference is released). */
json_decoder *json_decoder_acquire(lua_State *L, const json_limits *limits);
void json_decoder_recycle(lua_State *L, int ref);

/* Feeds bytes; returns JSON_OK or the (sticky) failure, whose text json_decoder_error gives. Never raises. */
enum json_status json_decoder_feed(json_decoder *d, const char *data, size_t len);

/* The input ended: a value still open is a failure (truncated). Never raises. */
enum json_status json_decoder_finish(json_decoder *d);

/* Moves the next complete value onto L; returns 0 when none is ready. */
int json_decoder_pull(json_decoder *d, lua_State *L);

/* Forgets everything fed so far (a request sent again). Never raises; JSON_MEMORY when out of memory. */
enum json_status json_decoder_reset(json_decoder *d);

const char *json_decoder_error(const json_decoder *d);

/* Adds json_decode(text[, limits]), json_decoder([limits]) and json_array_mt to the module table at idx. */
void json_register(lua_State *L, int module_idx);

#endif
