/* libFuzzer harness: names, filenames and types given to the multipart encoder can never break the part
 * headers (one line each), and the bytes read always add up to the announced Content-Length; a raw multipart
 * (a body of bytes, no framing) reads back exactly its content. */
#include <stdint.h>
#include <string.h>

#include "../multipart.h"

static size_t count_crlf(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '\r' && s[i + 1] == '\n') n++;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* name \0 filename \0 type \0 content; a missing field is NULL */
    const char *field[4] = {NULL, NULL, NULL, NULL};
    size_t len[4] = {0, 0, 0, 0};
    size_t start = 0, f = 0;
    for (size_t i = 0; i <= size && f < 4; i++) {
        if (i == size || (data[i] == 0 && f < 3)) {
            field[f] = (const char *)data + start;
            len[f] = i - start;
            f++;
            start = i + 1;
        }
    }
    if (field[0] == NULL) return 0;
    multipart m;
    multipart_init(&m);
    int ok = multipart_add(&m, field[0], len[0], len[1] ? field[1] : NULL, len[1], len[2] ? field[2] : NULL, len[2],
                           field[3] ? field[3] : "", len[3], NULL, 0);
    multipart_add(&m, "second", 6, NULL, 0, NULL, 0, "v", 1, NULL, 0);
    if (!multipart_close(&m)) __builtin_trap();
    if (ok) {
        multipart_part *p = &m.parts[0];
        size_t expected = 3 + (len[1] || len[2] ? 1 : 0); /* delimiter, disposition, [type], blank line */
        if (count_crlf(p->head.data, p->head.len) != expected) __builtin_trap();
    }
    char out[7];
    long long total = 0;
    size_t got;
    while ((got = multipart_read(&m, out, sizeof out)) > 0) {
        if (got == MULTIPART_ERROR) __builtin_trap();
        total += (long long)got;
    }
    if (total != m.length) __builtin_trap();
    multipart_free(&m);

    multipart raw;
    multipart_init(&raw);
    raw.raw = 1;
    const char *content = field[3] ? field[3] : "";
    if (!multipart_add(&raw, field[0], len[0], NULL, 0, NULL, 0, content, len[3], NULL, 0) || !multipart_close(&raw) ||
        raw.length != (long long)len[3])
        __builtin_trap();
    size_t at = 0;
    while ((got = multipart_read(&raw, out, sizeof out)) > 0) {
        if (got == MULTIPART_ERROR || at + got > len[3] || memcmp(out, content + at, got) != 0) __builtin_trap();
        at += got;
    }
    if (at != len[3]) __builtin_trap();
    multipart_free(&raw);
    return 0;
}
