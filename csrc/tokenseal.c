/* tokenseal.c: a fleet of processes shares one token through Redis (lua/falcon/fleet/init.lua), which any
 * reader of that Redis can see. So what crosses into Lua and into Redis is the token sealed (seal.c) under
 * a key derived from the client secret: useless without the secret, and refused when altered, moved to
 * another client or given another expiry. The token itself stays in C, as everywhere else. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "client.h"
#include "compat.h"
#include "errors.h"
#include "seal.h"
#include "secret.h"
#include "token.h"
#include "tokenseal.h"

/* The client's identity as seal.c needs it. Only a client with credentials takes part in a fleet: the
 * key is derived from the secret, so a client with a handed-in token has nothing to seal with (and raises,
 * a programming error: fleet/init.lua checks before it asks). The strings stay the client's; who borrows them
 * for the call only. */
static seal_identity identity_of(lua_State *L, const char *what, falcon_client **client) {
    falcon_client *c = client_check(L, 1);
    if (c->client_id == NULL || c->client_secret == NULL)
        errors_raise(L, what, "needs the client id and secret");
    *client = c;
    seal_identity who = {c->client_id, c->client_secret, c->member_cid};
    return who;
}

/* client:seal_token() -> sealed, expires_at | nil (no token held, or one handed in) */
static int client_seal_token(lua_State *L) {
    falcon_client *c;
    seal_identity who = identity_of(L, "client:seal_token", &c);
    /* A handed-in token is the caller's, not the fleet's; one without an expiry cannot be bound to one. */
    if (c->token == NULL || c->token_static || c->token_expires_at <= 0) return 0;
    /* Every way a token is stored bounds it to TOKEN_MAX_LEN (token_usable, seal_open, the access_token
     * option's MAX_OPTION_LEN), so it fits the buffer; seal_token checks again. */
    size_t len = strlen(c->token);
    /* On the C stack, not the heap: pushing it may raise a memory error, which must leave nothing behind. */
    unsigned char sealed[TOKEN_MAX_LEN + SEAL_OVERHEAD];
    if (!seal_token(&who, c->token, len, c->token_expires_at, sealed))
        return errors_raise(L, "client:seal_token", "libcrypto failed");
    lua_pushlstring(L, (const char *)sealed, len + SEAL_OVERHEAD);
    lua_pushnumber(L, seal_expiry(c->token_expires_at));
    return 2;
}

/* client:adopt_sealed(sealed, expires_at) -> true | false (not sealed for this client, altered, or not a
 * usable token): the token another process of the fleet fetched. */
static int client_adopt_sealed(lua_State *L) {
    falcon_client *c;
    seal_identity who = identity_of(L, "client:adopt_sealed", &c);
    size_t sealed_len;
    const char *sealed = errors_check_string(L, 2, "client:adopt_sealed", "sealed", &sealed_len);
    lua_Number expires_at = errors_check_number(L, 3, "client:adopt_sealed", "expires_at");
    char *token = seal_open(&who, (const unsigned char *)sealed, sealed_len, (double)expires_at);
    /* Refused, not raised: a value another process wrote is input (an old format, another client's, a
     * tampered one), and the fleet fetches a token of its own instead. */
    if (token == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    /* The expiry is the stored one, which the tag has vouched for (seal.c: expiry_aad). */
    client_forget_token(c);
    c->token = token;
    c->token_expires_at = (double)expires_at;
    lua_pushboolean(L, 1);
    return 1;
}

/* client:fleet_id() -> 32 hex characters naming (client id, member CID) in shared keys without
 * showing the client id. SHA-256 of a label, the id with its NUL (so "ab" + "c" never hashes as "a" +
 * "bc") and the CID, cut to 128 bits: enough that two fleets never share keys by accident; the id is not
 * secret, so no key is needed. */
static int client_fleet_id(lua_State *L) {
    falcon_client *c;
    identity_of(L, "client:fleet_id", &c);
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
    if (!ok) return errors_raise(L, "client:fleet_id", "libcrypto failed");
    static const char digits[] = "0123456789abcdef";
    char hex[32];
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    lua_pushlstring(L, hex, sizeof hex);
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
