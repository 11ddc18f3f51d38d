/* secret.h: secrets (client secret, tokens) live in C memory only and are wiped when freed. */
#ifndef FALCON_SECRET_H
#define FALCON_SECRET_H

#include <stddef.h>

void secret_wipe(void *p, size_t len);
/* A NUL-terminated copy of len bytes, or NULL when out of memory. */
char *secret_dup(const char *s, size_t len);
/* Wipes and frees *s, then sets it to NULL; safe to call twice. */
void secret_free(char **s);

#endif
