/* secret.c: copying and wiping secret strings.
 *
 * A secret (client secret, member CID, token, proxy URL with credentials) is a NUL-terminated C string
 * owned by exactly one struct field; it is copied in with secret_dup and let go with secret_free, never
 * with free alone. Lua strings cannot be wiped (they are interned and freed by the collector whenever it
 * likes), which is why secrets never become Lua values at all. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>

#include "secret.h"

/* explicit_bzero, not memset: a memset of memory about to be freed is a dead store the compiler may
 * drop. */
void secret_wipe(void *p, size_t len) {
    if (p != NULL && len > 0) explicit_bzero(p, len);
}

/* Copies len bytes, not up to a NUL: the callers have checked there is none inside (a token through
 * token_usable, options through client.c), so strlen of the copy is len, which secret_free relies on to
 * wipe it all. */
char *secret_dup(const char *s, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* strlen covers the whole secret: secrets hold no NUL (see secret_dup). Taking a char ** lets it reset
 * the owner's field, so no freed pointer is left behind to be freed or read again. */
void secret_free(char **s) {
    if (*s == NULL) return;
    secret_wipe(*s, strlen(*s));
    free(*s);
    *s = NULL;
}
