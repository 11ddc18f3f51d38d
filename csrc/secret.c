/* secret.c: copying and wiping secret strings. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>

#include "secret.h"

void secret_wipe(void *p, size_t len) {
    if (p != NULL && len > 0) explicit_bzero(p, len);
}

char *secret_dup(const char *s, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

void secret_free(char **s) {
    if (*s == NULL) return;
    secret_wipe(*s, strlen(*s));
    free(*s);
    *s = NULL;
}
