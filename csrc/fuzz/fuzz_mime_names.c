/* libFuzzer harness: multipart field and file names accepted by the core can never break a header. */
#include <stdint.h>
#include <string.h>

#include "../mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (mime_name_valid((const char *)data, size)) {
        if (size == 0) __builtin_trap();
        for (size_t i = 0; i < size; i++)
            if (data[i] < 0x20 || data[i] == '"' || data[i] == '\\' || data[i] == 0x7f) __builtin_trap();
    }
    return 0;
}
