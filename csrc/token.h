/* token.h: reading the OAuth2 token response without letting the token reach Lua.
 *
 * Hand-written on purpose: the JSON library of the project (lua-cjson) decodes into Lua strings, which
 * cannot be wiped; this scanner reads one flat JSON object in C and copies out two fields. */
#ifndef FALCON_TOKEN_H
#define FALCON_TOKEN_H

#include <stddef.h>

typedef struct {
    char *access_token; /* secret_dup'ed; caller frees with secret_free */
    double expires_in;  /* seconds; -1 when absent */
    int no_memory;      /* the answer could not be read for want of memory (not the answer's fault) */
} token_response;

#define TOKEN_MAX_LEN 8192

/* True for a usable bearer token: RFC 6750 b64token characters only (it becomes a header line, so CR/LF
 * and the like never pass), 1 to TOKEN_MAX_LEN bytes. Every token from outside (the token endpoint, a
 * shared dict) goes through it. */
int token_usable(const char *t, size_t len);

/* Returns 1 when json is an object whose "access_token" is a usable bearer token (RFC 6750 characters
 * only, at most TOKEN_MAX_LEN bytes); 0 otherwise (nothing allocated). Any other content is skipped; nesting deeper than 64 levels is refused. */
int token_parse(const char *json, size_t len, token_response *out);

#endif
