/* libFuzzer harness: query/form escaping keeps only unreserved bytes, '+' and %XX. */
#include <stdint.h>
#include <string.h>

#include "../buffer.h"
#include "../query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    buffer out;
    buffer_init(&out);
    query_escape(&out, (const char *)data, size);
    for (size_t i = 0; i < out.len; i++) {
        unsigned char c = (unsigned char)out.data[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~+%", c);
        if (!ok || c == 0) __builtin_trap();
    }
    if (out.len < size) __builtin_trap();
    buffer_free(&out);
    return 0;
}
