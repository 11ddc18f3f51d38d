/* libFuzzer harness: seal_open on bytes read from a shared store (Redis), which anyone with access to it
 * may write. Any input is opened as a sealed token (it must be refused: nobody but the harness knows the
 * key), and a token made from the input is sealed, opened (the same token must come back) and opened
 * again with one byte or the expiry changed (it must be refused). */
#include <stdint.h>
#include <string.h>

#include "../seal.h"
#include "../secret.h"
#include "../token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const seal_identity who = {"dec0de00000000000000000000000001", "FuzzSecret", "c1d0000000000000000000000000011"};
    double expires_at = 1800000000.123;
    char *opened = seal_open(&who, data, size, expires_at);
    if (opened != NULL) __builtin_trap();

    /* The token: the input's bytes mapped onto token characters, at least one. */
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";
    size_t len = size == 0 ? 1 : (size > TOKEN_MAX_LEN ? TOKEN_MAX_LEN : size);
    static char token[TOKEN_MAX_LEN + 1];
    static unsigned char sealed[TOKEN_MAX_LEN + SEAL_OVERHEAD];
    for (size_t i = 0; i < len; i++) token[i] = chars[(i < size ? data[i] : 0) % (sizeof chars - 1)];
    token[len] = '\0';
    if (!seal_token(&who, token, len, expires_at, sealed)) __builtin_trap();
    opened = seal_open(&who, sealed, len + SEAL_OVERHEAD, expires_at);
    if (opened == NULL || strcmp(opened, token) != 0) __builtin_trap();
    secret_free(&opened);
    if (seal_open(&who, sealed, len + SEAL_OVERHEAD, expires_at + 0.001) != NULL) __builtin_trap();
    size_t flip = size > 0 ? data[0] % (len + SEAL_OVERHEAD) : 0;
    sealed[flip] ^= (unsigned char)(size > 1 ? (data[1] | 1) : 1);
    if (seal_open(&who, sealed, len + SEAL_OVERHEAD, expires_at) != NULL) __builtin_trap();
    return 0;
}
