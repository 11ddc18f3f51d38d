/* token.h: reading the OAuth2 token endpoint's answer without letting the token reach Lua.
 *
 * The answer is parsed by yajl, the JSON parser the core decodes every answer with (json_decode.c), but
 * with callbacks of its own: json_decode.c builds Lua values, and a Lua string cannot be wiped, so here
 * the token goes from yajl straight into a secret_dup'ed C string and nothing else is kept. The memory
 * yajl works in is wiped before it is freed (yajl_memory.h). */
#ifndef FALCON_TOKEN_H
#define FALCON_TOKEN_H

#include <stddef.h>

#include <lua.h>

/* A bearer token becomes a header line: bounded as one (the option a caller hands in is bounded the
 * same, client.c's MAX_OPTION_LEN), far above the ~1-2 KB tokens the API issues. */
#define TOKEN_MAX_LEN 8192

typedef struct {
    char *access_token; /* secret_dup'ed; the caller owns it after TOKEN_OK and frees it with secret_free */
    double expires_in;  /* seconds as the answer wrote them (unbounded: auth.c bounds them); -1 when absent */
    const char *why;    /* TOKEN_REFUSED: why, a static string that names no byte of the answer */
} token_response;

enum token_status {
    TOKEN_OK,        /* out->access_token is a usable token */
    TOKEN_REFUSED,   /* the answer is not a token (out->why): the server's fault */
    TOKEN_NO_MEMORY, /* the answer could not be read for want of memory: not the answer's fault */
};

/* True for a usable bearer token: RFC 6750 b64token characters only (it becomes a header line, so CR/LF
 * and the like never pass), 1 to TOKEN_MAX_LEN bytes. Every token from outside (the token endpoint, a
 * shared dict, a sealed token) goes through it. */
int token_usable(const char *t, size_t len);

/* Reads the token endpoint's answer json[0..len): exactly one JSON object (RFC 8259, valid UTF-8, nothing
 * after it), at most TOKEN_MAX_DEPTH levels deep, whose "access_token" is a string token_usable accepts
 * and whose "expires_in", when present, is a number; each named once. Other fields are skipped.
 * yajl runs in a protected call on L (its allocator raises there when memory runs out), so this never
 * raises; L's stack is left as it was. Only on TOKEN_OK does out->access_token hold anything. */
enum token_status token_read(lua_State *L, const char *json, size_t len, token_response *out);

/* Nesting allowed in the answer, the top object included. An OAuth2 answer is one flat object; the bound
 * keeps a hostile one from growing yajl's state stack, which has no bound of its own. */
#define TOKEN_MAX_DEPTH 64

#endif
