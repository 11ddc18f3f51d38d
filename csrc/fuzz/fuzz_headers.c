/* libFuzzer harness: raw response header blocks from a hostile server. */
#include <stdint.h>
#include <string.h>

#include "../headers.h"

static void check(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
    const uint8_t *end = ud;
    /* Every reported span lies inside the input. */
    if (name != NULL && (const uint8_t *)name + nlen > end) __builtin_trap();
    if ((const uint8_t *)value + vlen > end) __builtin_trap();
    if (name != NULL && (nlen == 0 || memchr(name, ':', nlen) != NULL)) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    headers_parse((const char *)data, size, check, (void *)(data + size));
    return 0;
}
