/* transfer.h: one HTTP exchange on the client's handle: request in, status/headers/body out. */
#ifndef FALCON_TRANSFER_H
#define FALCON_TRANSFER_H

#include <curl/curl.h>
#include <stdio.h>
#include <lua.h>

#include "buffer.h"
#include "client.h"
#include "multipart.h"
#include "sink.h"

typedef struct {
    const char *method;          /* validated: upper-case letters */
    const char *route;           /* validated: starts with '/', no spaces or controls */
    const char *query;           /* encoded, or NULL */
    size_t query_len;
    const char *body;            /* request body, or NULL */
    size_t body_len;
    struct curl_slist *headers;  /* owned by the transfer; wiped and freed with it */
    multipart *form;             /* multipart body, owned by the transfer (the one encoder) */
    const char *save_to;         /* stream a 2xx body here (through a .part file) */
    int progress_ref;            /* registry reference to a Lua progress function, or LUA_NOREF */
    int bearer;                  /* send the client's token */
    struct json_decoder *json;   /* decodes a JSON body as it arrives (json_body.h), or NULL */
    int json_ref;                /* registry reference keeping the decoder alive, or LUA_NOREF */
    int binary;                  /* a 2xx body stays bytes (a download) */
} transfer_request;

typedef struct {
    long status;
    buffer headers;
    buffer body;
    CURLcode code;
    char errbuf[CURL_ERROR_SIZE];
    char *detail;                /* our own failure text (progress callback, upload file), or NULL */
    body_sink sink;              /* body to rs->body, or a 2xx to save_to (sink.c) */
    CURL *easy;
    lua_State **L;               /* the state running the transfer (set by whoever drives the handle) */
    int progress_ref;
    curl_off_t request_size;     /* bytes sent: 0 when the request never left */
} transfer_result;

void transfer_request_init(transfer_request *rq);
void transfer_request_free(transfer_request *rq);
void transfer_result_free(transfer_result *rs);

/* Readies rs for an exchange of rq by any driver (status, headers, body sink). Returns 0 when out of
 * memory (rs->code says so). */
int transfer_result_init(transfer_result *rs, const transfer_request *rq);

/* After a complete exchange with code CURLE_OK: finishes a save_to file (rs->code becomes
 * CURLE_WRITE_ERROR when the file failed). */
void transfer_finish_sink(transfer_result *rs);

/* Configures easy for the exchange; the URL and the header list it builds are handed back in
 * url/headers, to be freed after the transfer (transfer_cleanup). Returns 0 when out of memory
 * (rs->code says so). */
int transfer_prepare(CURL *easy, falcon_client *c, const transfer_request *rq, transfer_result *rs,
                     lua_State **L, buffer *url, struct curl_slist **headers);

/* Collects the outcome after libcurl finished with code, and closes the file sink. */
void transfer_complete(CURL *easy, const transfer_request *rq, transfer_result *rs, CURLcode code);

/* Forgets every pointer into the transfer's memory held by easy, then frees url and headers. */
void transfer_cleanup(CURL *easy, buffer *url, struct curl_slist **headers);

/* Runs the exchange on the client's own handle (blocking). rs must be freed whatever the outcome. */
void transfer_perform(lua_State *L, falcon_client *c, const transfer_request *rq, transfer_result *rs);

/* Pushes status, headers, body (nil when saved to a file), and {saved_to, saved_bytes} when a file was
 * saved (else nil); or nil, error. */
int transfer_push(lua_State *L, const transfer_request *rq, transfer_result *rs, int push_body);

/* Wipes each header line (they may hold a token) and frees the list. */
void slist_wipe_free(struct curl_slist *list);

#endif
