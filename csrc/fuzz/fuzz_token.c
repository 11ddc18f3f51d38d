/* libFuzzer harness: the token response scanner must never read out of bounds or leak. */
#include <stdint.h>
#include <string.h>

#include "../secret.h"
#include "../token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    token_response tr = {NULL, -1, 0};
    if (token_parse((const char *)data, size, &tr)) {
        if (tr.access_token == NULL || tr.access_token[0] == '\0') __builtin_trap();
        secret_free(&tr.access_token);
    }
    return 0;
}
