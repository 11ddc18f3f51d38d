/* tokenseal.c: a fleet of processes shares one token through Redis (lua/falcon/fleet.lua), which any
 * reader of that Redis can see. So what crosses into Lua and into Redis is the token sealed with
 * AES-256-GCM under a key derived (HKDF-SHA256) from the client secret: useless without the secret,
 * and refused when altered, moved to another client or given another expiry. The token itself stays
 * in C, as everywhere else.
 *
 * Sealed form: version byte (1) | 12-byte random nonce | ciphertext | 16-byte tag. The expiry (whole
 * milliseconds) is the additional authenticated data; the key's salt is the client id and its info
 * names the member CID, so each (client id, member CID) has its own key. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "client.h"
#include "compat.h"
#include "secret.h"
#include "token.h"
#include "tokenseal.h"

#define SEAL_VERSION 1
#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define SEAL_OVERHEAD (1 + NONCE_LEN + TAG_LEN)

static int derive_key(const falcon_client *c, unsigned char key[KEY_LEN]) {
    static const char label[] = "falconlua fleet token v1 member=";
    unsigned char info[sizeof label + 256];
    size_t member_len = c->member_cid ? strlen(c->member_cid) : 0;
    if (member_len > 256) return 0;
    memcpy(info, label, sizeof label - 1);
    if (member_len > 0) memcpy(info + sizeof label - 1, c->member_cid, member_len);
    size_t info_len = sizeof label - 1 + member_len, key_len = KEY_LEN;
    EVP_PKEY_CTX *kdf = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    int ok = kdf != NULL && EVP_PKEY_derive_init(kdf) > 0 && EVP_PKEY_CTX_set_hkdf_md(kdf, EVP_sha256()) > 0 &&
             EVP_PKEY_CTX_set1_hkdf_salt(kdf, (const unsigned char *)c->client_id, (int)strlen(c->client_id)) > 0 &&
             EVP_PKEY_CTX_set1_hkdf_key(kdf, (const unsigned char *)c->client_secret,
                                        (int)strlen(c->client_secret)) > 0 &&
             EVP_PKEY_CTX_add1_hkdf_info(kdf, info, (int)info_len) > 0 && EVP_PKEY_derive(kdf, key, &key_len) > 0 &&
             key_len == KEY_LEN;
    EVP_PKEY_CTX_free(kdf);
    return ok;
}

/* The expiry as the AEAD's additional data: whole milliseconds, 8 bytes big-endian. */
static void expiry_aad(double expires_at, unsigned char aad[8]) {
    long long ms = llround(expires_at * 1000.0);
    for (int i = 7; i >= 0; i--) {
        aad[i] = (unsigned char)(ms & 0xff);
        ms >>= 8;
    }
}

static falcon_client *credentials_client(lua_State *L, const char *what) {
    falcon_client *c = client_check(L, 1);
    if (c->client_id == NULL || c->client_secret == NULL)
        luaL_error(L, "falcon.core: %s: needs the client id and secret", what);
    return c;
}

/* Encrypts (or decrypts) in with key; 1 on success (for decryption: the tag matched). */
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
    if (ok) ok = EVP_CipherFinal_ex(ctx, out + n, &n) > 0 && n == 0;
    if (ok && encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) > 0;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* client:seal_token() -> sealed, expires_at | nil (no token held, or one handed in) */
static int client_seal_token(lua_State *L) {
    falcon_client *c = credentials_client(L, "seal_token");
    if (c->token == NULL || c->token_static || c->token_expires_at <= 0) return 0;
    size_t len = strlen(c->token);
    unsigned char key[KEY_LEN], aad[8];
    unsigned char *sealed = malloc(len + SEAL_OVERHEAD);
    if (sealed == NULL) return luaL_error(L, "falcon.core: out of memory");
    sealed[0] = SEAL_VERSION;
    expiry_aad(c->token_expires_at, aad);
    int ok = RAND_bytes(sealed + 1, NONCE_LEN) > 0 && derive_key(c, key) &&
             gcm(1, key, sealed + 1, aad, (const unsigned char *)c->token, (int)len, sealed + 1 + NONCE_LEN,
                 sealed + 1 + NONCE_LEN + len);
    secret_wipe(key, sizeof key);
    if (ok) lua_pushlstring(L, (const char *)sealed, len + SEAL_OVERHEAD);
    free(sealed);
    if (!ok) return luaL_error(L, "falcon.core: seal_token: libcrypto failed");
    lua_pushnumber(L, (lua_Number)llround(c->token_expires_at * 1000.0) / 1000.0);
    return 2;
}

/* client:adopt_sealed(sealed, expires_at) -> true | false (not sealed for this client, altered, or not a
 * usable token): the token another process of the fleet fetched. */
static int client_adopt_sealed(lua_State *L) {
    falcon_client *c = credentials_client(L, "adopt_sealed");
    size_t sealed_len;
    const unsigned char *sealed = (const unsigned char *)luaL_checklstring(L, 2, &sealed_len);
    lua_Number expires_at = luaL_checknumber(L, 3);
    if (sealed_len <= SEAL_OVERHEAD || sealed_len - SEAL_OVERHEAD > TOKEN_MAX_LEN || sealed[0] != SEAL_VERSION ||
        !(expires_at > 0)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    size_t len = sealed_len - SEAL_OVERHEAD;
    char *token = malloc(len + 1);
    if (token == NULL) return luaL_error(L, "falcon.core: out of memory");
    unsigned char key[KEY_LEN], aad[8], tag[TAG_LEN];
    memcpy(tag, sealed + 1 + NONCE_LEN + len, TAG_LEN);
    expiry_aad(expires_at, aad);
    int ok = derive_key(c, key) &&
             gcm(0, key, sealed + 1, aad, sealed + 1 + NONCE_LEN, (int)len, (unsigned char *)token, tag);
    secret_wipe(key, sizeof key);
    token[len] = '\0';
    /* Opened with our key, so written by one of us; still, it becomes a header line. */
    ok = ok && strlen(token) == len && strpbrk(token, "\r\n ") == NULL;
    if (!ok) {
        secret_wipe(token, len);
        free(token);
        lua_pushboolean(L, 0);
        return 1;
    }
    client_forget_token(c);
    c->token = token;
    c->token_expires_at = (double)expires_at;
    lua_pushboolean(L, 1);
    return 1;
}

/* client:fleet_id() -> 32 hex characters naming (client id, member CID) in shared keys without
 * showing the client id. */
static int client_fleet_id(lua_State *L) {
    falcon_client *c = credentials_client(L, "fleet_id");
    static const char label[] = "falconlua fleet id v1";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) > 0 &&
             EVP_DigestUpdate(md, label, sizeof label) > 0 &&
             EVP_DigestUpdate(md, c->client_id, strlen(c->client_id) + 1) > 0 &&
             (c->member_cid == NULL || EVP_DigestUpdate(md, c->member_cid, strlen(c->member_cid)) > 0) &&
             EVP_DigestFinal_ex(md, digest, &digest_len) > 0;
    EVP_MD_CTX_free(md);
    if (!ok) return luaL_error(L, "falcon.core: fleet_id: libcrypto failed");
    char hex[33];
    for (int i = 0; i < 16; i++) {
        static const char digits[] = "0123456789abcdef";
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    lua_pushlstring(L, hex, 32);
    return 1;
}

void tokenseal_register(lua_State *L) {
    static const luaL_Reg methods[] = {{"seal_token", client_seal_token},
                                       {"adopt_sealed", client_adopt_sealed},
                                       {"fleet_id", client_fleet_id},
                                       {NULL, NULL}};
    luaL_getmetatable(L, CLIENT_MT);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}
