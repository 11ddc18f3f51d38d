/* transfer.h: one HTTP exchange on the client's handle: request in, status/headers/body out. */
#ifndef FALCON_TRANSFER_H
#define FALCON_TRANSFER_H

#include <curl/curl.h>
#include <stdio.h>
#include <lua.h>

#include "buffer.h"
#include "client.h"
#include "idle.h"
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
    int on_data_ref;             /* registry reference to a Lua function taking a 2xx body's chunks, or LUA_NOREF */
    int anchor_ref;              /* registry reference to the Lua values method/route/body/... point into */
    int bearer;                  /* send the client's token */
    int repeatable;              /* safe to send twice: libcurl may re-send it on a fresh connection */
    struct json_decoder *json;   /* decodes a JSON body as it arrives (json_body.h), or NULL */
    int json_ref;                /* registry reference keeping the decoder alive, or LUA_NOREF */
    int binary;                  /* a 2xx body stays bytes (a download) */
} transfer_request;

typedef struct {
    long status;
    buffer headers;
    header_fields head;          /* the fields of headers, parsed once (headers.h) */
    buffer body;
    CURLcode code;
    char errbuf[CURL_ERROR_SIZE];
    char *detail;                /* our own failure text (progress callback, upload file), or NULL */
    body_sink sink;              /* body to rs->body, or a 2xx to save_to (sink.c) */
    CURL *easy;
    lua_State **L;               /* the state running the transfer (set by whoever drives the handle) */
    int progress_ref;
    int on_data_ref;             /* the request's, borrowed */
    curl_off_t request_size;     /* bytes sent: 0 when the request never left */
    int issued;                  /* times libcurl was about to send the request (prereq callback) */
    int repeatable;              /* the request's: may be issued again */
    idle_set *idle;              /* the kept-alive connections of the handle's cache */
    int local_port;              /* of the connection the request went out on (prereq callback) */
    int headers_too_large;
    int framing_broken;          /* the answer's length is not plain (TRANSFER_BROKEN_LENGTH) */
    int content_lengths;         /* Content-Length fields in the head being read (libcurl header callback) */
    int transfer_encoded;        /* ... and whether it has Transfer-Encoding */
    int head_ended;              /* ... and whether its blank line came (what follows are trailers) */
} transfer_result;

/* A response's header block is bounded whatever the server sends (libcurl bounds each line only). */
#define TRANSFER_HEADERS_MAX (256u * 1024)

/* Why a request that is not safe to repeat failed instead of being sent on a second connection. */
#define TRANSFER_NOT_RESENT                                                                               \
    "the connection closed before an answer came; the request was not sent again, as it is not safe to " \
    "repeat (the server may have applied it)"

/* RFC 9112 section 6.3: an answer whose length is not one plain number (or chunks) is broken, not a body. */
#define TRANSFER_BROKEN_LENGTH                                                                        \
    "a broken answer: its length is ambiguous (more than one Content-Length, one that is not a plain " \
    "number, or one beside Transfer-Encoding; RFC 9112 section 6.3)"

void transfer_request_init(transfer_request *rq);
void transfer_request_free(transfer_request *rq);
void transfer_result_free(transfer_result *rs);

/* Readies rs for an exchange of rq by any driver (status, headers, body sink bounded by max_body_bytes,
 * 0 for none). Returns 0 when out of memory (rs->code says so). */
int transfer_result_init(transfer_result *rs, const transfer_request *rq, size_t max_body_bytes);

/* Starts the header block (and its fields) again: a new status line, a new message. */
void transfer_headers_reset(transfer_result *rs);

/* Appends to the header block within TRANSFER_HEADERS_MAX; 0 (with rs->detail) past it or on memory. */
int transfer_headers_append(transfer_result *rs, const char *data, size_t len);

/* Sets rs->code from the failure the body sink recorded. */
void transfer_sink_failed(transfer_result *rs);

/* After a complete exchange with code CURLE_OK: finishes a save_to file (rs->code becomes
 * CURLE_WRITE_ERROR when the file failed). */
void transfer_finish_sink(transfer_result *rs);

/* Configures easy for the exchange; the URL and the header list it builds are handed back in
 * url/headers, to be freed after the transfer (transfer_cleanup). Returns 0 when out of memory
 * (rs->code says so). */
int transfer_prepare(CURL *easy, falcon_client *c, const transfer_request *rq, transfer_result *rs,
                     lua_State **L, idle_set *idle, buffer *url, struct curl_slist **headers);

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
