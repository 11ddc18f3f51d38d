/* client.h: the client object: one reused libcurl handle, its settings, and the auth state. */
#ifndef FALCON_CLIENT_H
#define FALCON_CLIENT_H

#include <curl/curl.h>
#include <lua.h>

#include "idle.h"

#define FALCONLUA_VERSION "0.1.0"
#define CLIENT_MT "falcon.core.client"

/* A transfer in flight on another handle (a curl multi transfer) whose libcurl options point into the
 * client's memory (the proxy header list). Closing the client ends each one first (end), with an
 * error, so that nothing is left pointing into freed memory. */
typedef struct client_user client_user;
struct client_user {
    void (*end)(lua_State *L, client_user *u);
    int (*busy)(const client_user *u); /* inside libcurl right now: cannot be ended from a callback */
    client_user *prev, *next;
};

typedef struct {
    CURL *easy;              /* reused across calls: keeps the connection alive */
    char *base_url;          /* no trailing slash */
    char *client_id;         /* secret */
    char *client_secret;     /* secret */
    char *member_cid;        /* secret (identifies a tenant) */
    char *token;             /* secret */
    double token_expires_at; /* epoch seconds; 0 when unknown (handed-in token) */
    int token_static;        /* handed in by the caller: cannot be renewed */
    char *proxy;             /* secret: may carry credentials */
    int plain_proxy;         /* a plain-http request may go through a proxy (given, or from the
                              * environment): its request line then carries the whole URL */
    char *ca_bundle;
    /* One line, "User-Agent: falconlua/<version>[ <user's>]": sent with every request, and the whole
     * header list of a proxy's CONNECT. */
    struct curl_slist *user_agent;
    long connect_timeout_ms;
    long timeout_ms;      /* whole transfer; 0 = none */
    long read_timeout_s;  /* abort when no byte moved for this long; 0 = never */
    int ssl_verify;
    long max_body_bytes;  /* a response body kept in memory larger than this (decoded) is an error */
    long requests;        /* transfers performed, for tostring and tests */
    int performing;       /* inside curl_easy_perform on easy: close() must wait (a progress callback) */
    client_user *users;   /* transfers in flight elsewhere that point into this client */
    idle_set idle;        /* easy's kept-alive connections, watched while idle */
} falcon_client;

falcon_client *client_check(lua_State *L, int idx);
/* client_check, and raises when the client's own handle is busy (called from its request's callback). */
falcon_client *client_check_idle(lua_State *L, int idx);
/* Applies every connection setting (timeouts, proxy, TLS, decoding) to the handle. Shared by API
 * calls, login and revoke, so no setting can apply to one and not the others. Returns 0 when out of
 * memory (libcurl copies the proxy and CA strings: a handle without them must not be used). */
int client_apply_settings(falcon_client *c, CURL *easy);
void client_register(lua_State *L);
void client_push_perform(lua_State *L);
int client_lua_new(lua_State *L);
void client_forget_token(falcon_client *c);
/* A closed client has no handle; its methods raise, and finishing a token exchange for it fails. */
int client_closed(const falcon_client *c);
void client_attach(falcon_client *c, client_user *u);
void client_detach(falcon_client *c, client_user *u);

#endif
