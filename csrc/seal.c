/* seal.c: sealing and opening a token (see seal.h). No Lua here: tokenseal.c gives it to the client.
 *
 * Why seal at all: a fleet shares one token through Redis, which every process of the fleet (and whoever
 * else can reach that Redis) reads. Sealed, the stored value is useless without the client secret, and
 * a value written by anyone without it fails the tag and is never sent as a bearer token. Why these
 * primitives: libcrypto (Debian's libssl) has them, AES-GCM authenticates as it encrypts, and HKDF turns
 * a secret of any length into a key without a password-hashing cost on every read. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "seal.h"
#include "secret.h"
#include "token.h"

/* The first byte of a sealed token: a later format changes it, and an old process refuses the new
 * format (as a value it cannot open) instead of misreading it. */
#define SEAL_VERSION 1
#define KEY_LEN 32   /* AES-256 */
#define NONCE_LEN 12 /* GCM's standard nonce: random per seal; 2^-32 collision odds after 2^32 seals */
#define TAG_LEN 16   /* GCM's full tag: forging one is a 2^-128 guess */
/* A member CID is 32 hex digits; the bound only keeps the info buffer on the stack. */
#define MAX_MEMBER_LEN 256

/* HKDF-SHA256(secret; salt = client id; info = label and member CID): one key per (client, tenant), so
 * a token sealed for a child CID cannot be opened as the parent's. The label names the purpose and the
 * format, so a key derived here is never the key of anything else derived from the same secret. Returns 0
 * when libcrypto failed (out of memory); the key is the caller's to wipe. */
static int derive_key(const seal_identity *who, unsigned char key[KEY_LEN]) {
    static const char label[] = "falconlua fleet token v1 member=";
    unsigned char info[sizeof label + MAX_MEMBER_LEN];
    size_t member_len = who->member_cid ? strlen(who->member_cid) : 0;
    if (member_len > MAX_MEMBER_LEN) return 0;
    memcpy(info, label, sizeof label - 1);
    if (member_len > 0) memcpy(info + sizeof label - 1, who->member_cid, member_len);
    size_t info_len = sizeof label - 1 + member_len, key_len = KEY_LEN;
    EVP_PKEY_CTX *kdf = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    int ok = kdf != NULL && EVP_PKEY_derive_init(kdf) > 0 && EVP_PKEY_CTX_set_hkdf_md(kdf, EVP_sha256()) > 0 &&
             EVP_PKEY_CTX_set1_hkdf_salt(kdf, (const unsigned char *)who->client_id, (int)strlen(who->client_id)) > 0 &&
             EVP_PKEY_CTX_set1_hkdf_key(kdf, (const unsigned char *)who->client_secret,
                                        (int)strlen(who->client_secret)) > 0 &&
             EVP_PKEY_CTX_add1_hkdf_info(kdf, info, (int)info_len) > 0 && EVP_PKEY_derive(kdf, key, &key_len) > 0 &&
             key_len == KEY_LEN;
    EVP_PKEY_CTX_free(kdf);
    return ok;
}

/* The expiry is authenticated as whole milliseconds (expiry_aad): what a reader compares it with must be
 * rounded the same way, or a token would fail to open for a rounding difference. */
double seal_expiry(double expires_at) {
    return (double)llround(expires_at * 1000.0) / 1000.0;
}

/* The expiry as the AEAD's additional data: whole milliseconds, 8 bytes big-endian. Bound to the tag, it
 * cannot be moved: a stored expiry made later (to keep an old token in use) fails the tag. */
static void expiry_aad(double expires_at, unsigned char aad[8]) {
    long long ms = llround(expires_at * 1000.0);
    for (int i = 7; i >= 0; i--) {
        aad[i] = (unsigned char)(ms & 0xff);
        ms >>= 8;
    }
}

/* Encrypts (or decrypts) len bytes of in into out; 1 on success (decrypting: the tag matched). One
 * function for both directions, so that the two cannot disagree on nonce length, AAD or tag handling;
 * the tag is set before the final step when decrypting (EVP checks it there) and read after it when
 * encrypting. A decryption that fails the tag has written plaintext to out: the caller wipes it. */
static int gcm(int encrypt, const unsigned char key[KEY_LEN], const unsigned char nonce[NONCE_LEN],
               const unsigned char aad[8], const unsigned char *in, int len, unsigned char *out,
               unsigned char tag[TAG_LEN]) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, ok = ctx != NULL && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) > 0 &&
                    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) > 0 &&
                    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, encrypt) > 0 &&
                    EVP_CipherUpdate(ctx, NULL, &n, aad, 8) > 0 && EVP_CipherUpdate(ctx, out, &n, in, len) > 0 &&
                    n == len;
    if (ok && !encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) > 0;
    if (ok) ok = EVP_CipherFinal_ex(ctx, out + len, &n) > 0 && n == 0;
    if (ok && encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) > 0;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* out must hold len + SEAL_OVERHEAD bytes (tokenseal.c sizes it). The derived key lives on the stack
 * only for the call and is wiped on every path. */
int seal_token(const seal_identity *who, const char *token, size_t len, double expires_at, unsigned char *out) {
    if (len == 0 || len > TOKEN_MAX_LEN) return 0;
    unsigned char key[KEY_LEN], aad[8];
    out[0] = SEAL_VERSION;
    expiry_aad(expires_at, aad);
    int ok = RAND_bytes(out + 1, NONCE_LEN) > 0 && derive_key(who, key) &&
             gcm(1, key, out + 1, aad, (const unsigned char *)token, (int)len, out + 1 + NONCE_LEN,
                 out + 1 + NONCE_LEN + len);
    secret_wipe(key, sizeof key);
    return ok;
}

/* The sealed bytes are input from a shared store: every length and the version are checked before any
 * is used, the expiry must be a plausible epoch time (and below 1e15 so llround's result fits), and a
 * token that opens is still checked as a header line would be. The plaintext is wiped when refused. */
char *seal_open(const seal_identity *who, const unsigned char *sealed, size_t sealed_len, double expires_at) {
    if (sealed_len <= SEAL_OVERHEAD || sealed_len - SEAL_OVERHEAD > TOKEN_MAX_LEN || sealed[0] != SEAL_VERSION ||
        !(expires_at > 0 && expires_at < 1e15))
        return NULL;
    size_t len = sealed_len - SEAL_OVERHEAD;
    /* One spare byte: gcm's final step writes nothing at out + len for GCM, but is given room. */
    char *token = malloc(len + 1);
    if (token == NULL) return NULL;
    unsigned char key[KEY_LEN], aad[8], tag[TAG_LEN];
    memcpy(tag, sealed + 1 + NONCE_LEN + len, TAG_LEN);
    expiry_aad(expires_at, aad);
    int ok = derive_key(who, key) &&
             gcm(0, key, sealed + 1, aad, sealed + 1 + NONCE_LEN, (int)len, (unsigned char *)token, tag);
    secret_wipe(key, sizeof key);
    token[len] = '\0';
    /* Opened with our key, so written by one of us; still, it becomes a header line. */
    if (ok && (strlen(token) != len || strpbrk(token, "\r\n ") != NULL)) ok = 0;
    if (!ok) {
        secret_wipe(token, len);
        free(token);
        return NULL;
    }
    return token;
}
