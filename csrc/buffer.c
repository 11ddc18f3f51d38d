/* buffer.c: growable byte buffer with an explicit failure flag.
 *
 * The flag is the point: a caller appends many pieces (a query, a header line, a form) and checks once,
 * at the end (buffer_cstr returning NULL, or b->failed), instead of after every append. Once an
 * allocation failed every later append is a no-op, so a half-built buffer is never mistaken for a whole
 * one. The buffer may hold secrets (the token form, the Basic header, a token answer), so it never lets
 * go of a byte unwiped: growing copies and wipes instead of realloc, and buffer_wipe_free wipes the whole
 * capacity, not just len (a reset buffer's old bytes are still there). */
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "secret.h"

/* Allocates nothing: memory comes with the first append, so init cannot fail and an unused buffer costs
 * nothing to free. */
void buffer_init(buffer *b) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

int buffer_reserve(buffer *b, size_t extra) {
    if (b->failed) return 0;
    /* len + extra + 1 (the NUL buffer_cstr may add) must not wrap: a wrapped size would allocate small
     * and then copy large. */
    if (extra > (size_t)-1 - b->len - 1) {
        b->failed = 1;
        return 0;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 1;
    /* Doubling keeps appends amortised O(1); 256 bytes holds most header lines and queries at once. */
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    /* realloc would leave a copy of secret bytes behind: grow by hand and wipe the old block. */
    char *grown = malloc(cap);
    if (grown == NULL) {
        b->failed = 1;
        return 0;
    }
    if (b->data != NULL) {
        memcpy(grown, b->data, b->len);
        secret_wipe(b->data, b->cap);
        free(b->data);
    }
    b->data = grown;
    b->cap = cap;
    return 1;
}

/* An empty append succeeds without allocating, and reports an earlier failure all the same. */
int buffer_append(buffer *b, const void *bytes, size_t len) {
    if (len == 0) return !b->failed;
    if (!buffer_reserve(b, len)) return 0;
    memcpy(b->data + b->len, bytes, len);
    b->len += len;
    return 1;
}

int buffer_append_str(buffer *b, const char *s) {
    return buffer_append(b, s, strlen(s));
}

int buffer_append_char(buffer *b, char c) {
    return buffer_append(b, &c, 1);
}

/* The NUL goes after len, not into it: the bytes may be binary, and len stays their count. */
const char *buffer_cstr(buffer *b) {
    if (!buffer_reserve(b, 0)) return NULL;
    b->data[b->len] = '\0';
    return b->data;
}

/* Keeps the memory for the next use (and its old bytes: a secret's buffer is wiped when freed). */
void buffer_reset(buffer *b) {
    b->len = 0;
}

void buffer_free(buffer *b) {
    free(b->data);
    buffer_init(b);
}

void buffer_wipe_free(buffer *b) {
    if (b->data != NULL) secret_wipe(b->data, b->cap);
    buffer_free(b);
}
