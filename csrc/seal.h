/* seal.h: a token sealed for a fleet's shared store, and opened again (AES-256-GCM, HKDF-SHA256 key).
 *
 * Sealed form: version byte (1) | 12-byte random nonce | ciphertext | 16-byte tag. The key is derived from
 * the client secret, with the client id as salt and the member CID in the info, so each (client id,
 * member CID) has its own key; the expiry (whole milliseconds) is the additional authenticated data. */
#ifndef FALCON_SEAL_H
#define FALCON_SEAL_H

#include <stddef.h>

#define SEAL_OVERHEAD (1 + 12 + 16)

typedef struct {
    const char *client_id;     /* required */
    const char *client_secret; /* required */
    const char *member_cid;    /* or NULL */
} seal_identity;

/* Writes len + SEAL_OVERHEAD bytes to out. Returns 1, or 0 when libcrypto failed. */
int seal_token(const seal_identity *who, const char *token, size_t len, double expires_at, unsigned char *out);

/* Opens sealed (sealed_len bytes) sealed for who with this expiry. Returns a new NUL-terminated token
 * (free with secret_free) when the tag matched and the token has no NUL, CR, LF or space; else NULL. */
char *seal_open(const seal_identity *who, const unsigned char *sealed, size_t sealed_len, double expires_at);

/* The expiry a sealed token carries: expires_at rounded to whole milliseconds. */
double seal_expiry(double expires_at);

#endif
