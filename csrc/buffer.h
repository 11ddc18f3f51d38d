/* buffer.h: a growable byte buffer, the one string builder of the C core. */
#ifndef FALCON_BUFFER_H
#define FALCON_BUFFER_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    int failed; /* set once an allocation failed; later appends are no-ops */
} buffer;

void buffer_init(buffer *b);
/* Makes room for extra more bytes (and a NUL); returns 0 on failure. */
int buffer_reserve(buffer *b, size_t extra);
int buffer_append(buffer *b, const void *bytes, size_t len);
int buffer_append_str(buffer *b, const char *s);
int buffer_append_char(buffer *b, char c);
/* NUL-terminates without counting the NUL in len; returns the data or NULL on failure. */
const char *buffer_cstr(buffer *b);
void buffer_reset(buffer *b);
/* Frees the memory; wipe first when it may have held a secret. */
void buffer_free(buffer *b);
void buffer_wipe_free(buffer *b);

#endif
