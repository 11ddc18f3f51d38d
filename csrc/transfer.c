/* transfer.c: performing one request on the client's reused handle.
 *
 * One libcurl exchange, shared by both libcurl drivers (the blocking one on the client's handle, the curl
 * multi one on a handle per transfer): transfer_prepare sets what belongs to this request, the callbacks
 * collect status, headers and body into a transfer_result (through the same sink the cosocket driver
 * feeds), transfer_complete turns libcurl's outcome into the core's, and transfer_push into Lua values.
 * The callbacks run inside libcurl, where no Lua error may unwind: they call Lua only protected, and
 * report a failure by returning the value that makes libcurl stop. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compat.h"
#include "endpoint.h"
#include "errors.h"
#include "headers.h"
#include "secret.h"
#include "transfer.h"

/* The header block's first allocation (transfer_result_init says why it is enough). */
#define HEADER_BLOCK_PRESIZE 1024
#define ACCEPT_ENCODING_LINE "Accept-Encoding: gzip, deflate" /* what sink.c decodes */
/* A write goes out on a kept-alive connection only if it was idle for less than this: servers close
 * idle connections after 5 s (Apache) to 60-75 s (load balancers, nginx), and a write that meets such a
 * close in flight cannot be sent again (on_prereq). Reads reuse connections as libcurl does. */
#define WRITE_REUSE_IDLE_S 4L
#define READ_REUSE_IDLE_S 118L /* libcurl's own default */
/* The announced length of a body kept in memory is the server's word: it presizes the buffer only up to
 * this, beyond which the buffer grows as bytes actually arrive. */
#define BODY_PRESIZE_MAX (1 << 20)

/* Every reference starts as LUA_NOREF, so request_free is safe on a request read only in part. */
void transfer_request_init(transfer_request *rq) {
    memset(rq, 0, sizeof *rq);
    rq->progress_ref = LUA_NOREF;
    rq->on_data_ref = LUA_NOREF;
    rq->anchor_ref = LUA_NOREF;
    rq->json_ref = LUA_NOREF;
}

/* A request's header lines include the bearer token (and an auth request's Basic line the secret): each
 * line is wiped before the list is freed. */
void slist_wipe_free(struct curl_slist *list) {
    for (struct curl_slist *it = list; it != NULL; it = it->next)
        if (it->data != NULL) secret_wipe(it->data, strlen(it->data));
    curl_slist_free_all(list);
}

/* Frees what the request owns in C (header lines, the form and its open file); the Lua values it
 * points into are the anchor's, released by request_free. Safe twice. */
void transfer_request_free(transfer_request *rq) {
    slist_wipe_free(rq->headers);
    rq->headers = NULL;
    multipart_destroy(rq->form);
    rq->form = NULL;
}

/* Frees the answer's memory (a partial download removed by the sink); safe twice. A token answer's body
 * has been wiped already by auth.c: nothing else keeps a secret here. */
void transfer_result_free(transfer_result *rs) {
    sink_free(&rs->sink);
    headers_fields_free(&rs->head);
    buffer_free(&rs->headers);
    buffer_free(&rs->body);
    free(rs->detail);
    rs->detail = NULL;
}

/* ---- the request's Lua functions, called from inside libcurl (or the cosocket parser) ---------- */

/* A call of one of the request's functions: which, with what, and whether it asked to stop. */
typedef struct {
    int ref;
    int nargs;
    const char *data; /* on_data: the chunk */
    size_t len;
    curl_off_t progress[4]; /* progress: dltotal, dlnow, ultotal, ulnow */
    int stop;
} lua_callback;

/* The protected part: pushes the function and its arguments and calls it. Runs inside falcon_cpcall on
 * the state that drives the transfer, so anything it raises (a memory error included) is caught. */
static int call_function(lua_State *L) {
    lua_callback *c = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
    if (c->nargs == 1) lua_pushlstring(L, c->data, c->len);
    for (int i = 0; c->nargs == 4 && i < 4; i++) lua_pushnumber(L, (lua_Number)c->progress[i]);
    lua_call(L, c->nargs, 1);
    c->stop = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    return 0;
}

/* Runs the call, its argument pushes included, protected: no Lua error (a memory error included) may
 * unwind through libcurl. Returns 1 to go on; 0 to stop, with *detail (malloc'd; NULL when memory ran
 * out) saying why. It must not yield. */
static int run_callback(lua_State *L, lua_callback *c, const char *what, char **detail) {
    if (falcon_cpcall(L, call_function, c) != 0) {
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(error object)";
        size_t n = strlen(what) + strlen(msg) + sizeof " callback failed: ";
        if ((*detail = malloc(n)) != NULL) snprintf(*detail, n, "%s callback failed: %s", what, msg);
        lua_pop(L, 1);
        return 0;
    }
    if (!c->stop) return 1;
    size_t n = strlen(what) + sizeof " callback returned false";
    if ((*detail = malloc(n)) != NULL) snprintf(*detail, n, "%s callback returned false", what);
    return 0;
}

/* A 2xx body's chunk to the request's on_data function, on the state driving the transfer; false stops. */
static int data_cb(void *ud, const char *data, size_t len, char **detail) {
    transfer_result *rs = ud;
    lua_callback c = {rs->on_data_ref, 1, data, len, {0, 0, 0, 0}, 0};
    return run_callback(*rs->L, &c, "on_data", detail);
}

/* rs borrows from rq (save_to, the decoder, the on_data reference), so rq must outlive it; the caller
 * owns rs and frees it with transfer_result_free whatever the outcome. */
int transfer_result_init(transfer_result *rs, const transfer_request *rq, size_t max_body_bytes) {
    memset(rs, 0, sizeof *rs);
    buffer_init(&rs->headers);
    buffer_init(&rs->body);
    rs->progress_ref = LUA_NOREF;
    rs->on_data_ref = LUA_NOREF;
    /* A Falcon header block is a few hundred bytes: one allocation, never grown. */
    if (!buffer_reserve(&rs->headers, HEADER_BLOCK_PRESIZE)) {
        rs->code = CURLE_OUT_OF_MEMORY;
        return 0;
    }
    headers_fields_init(&rs->head, &rs->headers);
    if (!sink_init(&rs->sink, rq->save_to, &rs->body, max_body_bytes, &rs->head)) {
        rs->code = CURLE_OUT_OF_MEMORY;
        return 0;
    }
    json_body_attach(&rs->sink.json, rq->json, rq->binary, &rs->head);
    rs->on_data_ref = rq->on_data_ref;
    if (rq->on_data_ref != LUA_NOREF) {
        rs->sink.on_data = data_cb;
        rs->sink.on_data_ud = rs;
    }
    return 1;
}

/* The error a failed sink gives, whichever driver fed it. */
void transfer_sink_failed(transfer_result *rs) {
    static const CURLcode codes[] = {
        [SINK_OK] = CURLE_WRITE_ERROR, [SINK_NO_MEMORY] = CURLE_OUT_OF_MEMORY, [SINK_FILE] = CURLE_WRITE_ERROR,
        [SINK_TOO_LARGE] = CURLE_FILESIZE_EXCEEDED, [SINK_ENCODING] = CURLE_BAD_CONTENT_ENCODING,
        [SINK_JSON] = CURLE_WRITE_ERROR, [SINK_CALLBACK] = CURLE_ABORTED_BY_CALLBACK};
    rs->code = codes[rs->sink.failure];
}

/* Only after a clean exchange: a failed one's sink is discarded (its file removed), not finished. */
void transfer_finish_sink(transfer_result *rs) {
    if (rs->code == CURLE_OK && !sink_finish(&rs->sink, rs->status)) transfer_sink_failed(rs);
}

void transfer_headers_reset(transfer_result *rs) {
    buffer_reset(&rs->headers);
    headers_fields_reset(&rs->head);
}

/* libcurl bounds each header line (100 KB) but not their number: the block is bounded here, for both
 * libcurl drivers, and by response.c through this same function for the cosocket driver. */
int transfer_headers_append(transfer_result *rs, const char *data, size_t len) {
    if (len > TRANSFER_HEADERS_MAX - rs->headers.len) {
        if (rs->detail == NULL) rs->detail = strdup("the response headers are larger than 256 KiB");
        rs->headers_too_large = 1;
        return 0;
    }
    return buffer_append(&rs->headers, data, len);
}

/* True for a Content-Length value (after the colon) of digits alone, blanks around them allowed. */
static int plain_length(const char *value, size_t len) {
    size_t i = 0, digits = 0;
    while (i < len && (value[i] == ' ' || value[i] == '\t')) i++;
    while (i < len && value[i] >= '0' && value[i] <= '9') i++, digits++;
    while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == '\r' || value[i] == '\n')) i++;
    return digits > 0 && digits <= 18 && i == len;
}

/* RFC 9112 section 6.3. libcurl takes the last of two Content-Length fields, a list's first number, or
 * the chunks past a Content-Length, and leaves what it did not read on the connection for the next
 * request; http_parser refuses these answers in the cosocket driver (response.c). Refused here too, for
 * the libcurl drivers, so every driver agrees; identical repeated lengths are refused as http_parser
 * does (RFC 9110 allows either). Trailers are not looked at. */
static int framing_ok(transfer_result *rs, const char *line, size_t len) {
    if (rs->head_ended) return 1;
    if (len <= 2) {
        rs->head_ended = 1; /* the blank line ending the head */
        return 1;
    }
    int plain = 1;
    if (len > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
        rs->content_lengths++;
        plain = plain_length(line + 15, len - 15);
    } else if (len > 18 && strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
        rs->transfer_encoded = 1;
    }
    if (plain && rs->content_lengths <= 1 && !(rs->content_lengths == 1 && rs->transfer_encoded)) return 1;
    if (rs->detail == NULL) rs->detail = strdup(TRANSFER_BROKEN_LENGTH);
    rs->framing_broken = 1;
    return 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
    transfer_result *rs = ud;
    size_t len = size * n;
    /* A new status line starts a new header block (100-continue, proxy CONNECT): keep the last. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        transfer_headers_reset(rs);
        rs->content_lengths = rs->transfer_encoded = rs->head_ended = 0;
    }
    if (!framing_ok(rs, data, len)) return 0;
    return transfer_headers_append(rs, data, len) ? len : 0;
}

/* libcurl's write callback: every body byte of the libcurl drivers. The status is read at the first
 * byte (the sink decides there where the body goes); returning less than len stops the transfer with
 * CURLE_WRITE_ERROR, which transfer_complete maps back to the sink's recorded failure. */
static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    transfer_result *rs = ud;
    size_t len = size * n;
    if (!rs->sink.decided) {
        curl_easy_getinfo(rs->easy, CURLINFO_RESPONSE_CODE, &rs->status);
        /* A body kept in memory is allocated once at its announced length (bounded: the length is the
         * server's word, and the buffer still grows past it if the server sends more). */
        curl_off_t announced = -1;
        curl_easy_getinfo(rs->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced);
        /* A JSON body goes to its decoder: only a non-2xx keeps bytes, its first JSON_RAW_KEEP. */
        if (rs->sink.json.decoder != NULL && announced > JSON_RAW_KEEP) announced = JSON_RAW_KEEP;
        if (rs->sink.save_to == NULL && announced > 0 && announced <= BODY_PRESIZE_MAX &&
            !buffer_reserve(&rs->body, (size_t)announced))
            return 0;
    }
    return sink_write(&rs->sink, rs->status, data, len) ? len : 0;
}

/* The request body of a multipart form: read from the one encoder (multipart.c). A file that fails
 * aborts the upload; transfer_complete then reports it as the file's failure, not libcurl's. */
static size_t on_read(char *out, size_t size, size_t n, void *ud) {
    size_t got = multipart_read(ud, out, size * n);
    return got == MULTIPART_ERROR ? CURL_READFUNC_ABORT : got;
}

/* libcurl rewinds when it must resend on a fresh connection; only "from the start" is possible. */
static int on_seek(void *ud, curl_off_t offset, int origin) {
    if (offset != 0 || origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
    multipart_rewind(ud);
    return CURL_SEEKFUNC_OK;
}

/* libcurl sends a request again by itself when a reused connection dies before any answer. For a
 * write that is a duplicate (the server may have applied it and dropped the connection): the second
 * send is refused, and the caller gets an error saying the write may have been applied. */
static int on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port) {
    transfer_result *rs = ud;
    (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port;
    idle_take(rs->idle, conn_local_port); /* the connection is no longer idle */
    rs->local_port = conn_local_port;
    if (rs->issued++ == 0 || rs->repeatable) return CURL_PREREQFUNC_OK;
    if (rs->detail == NULL) rs->detail = strdup(TRANSFER_NOT_RESENT);
    return CURL_PREREQFUNC_ABORT;
}

/* The request's progress function, protected; its error or a false return aborts the transfer with
 * its reason in rs->detail (CURLE_ABORTED_BY_CALLBACK, kind "aborted", never retried). */
static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    transfer_result *rs = ud;
    lua_callback c = {rs->progress_ref, 4, NULL, 0, {dltotal, dlnow, ultotal, ulnow}, 0};
    char *why = NULL;
    if (run_callback(*rs->L, &c, "progress", &why)) return 0;
    free(rs->detail);
    rs->detail = why;
    return 1;
}

/* Appends a copy of line; on failure the list is left as it was (freed by the caller). */
static int append_line(struct curl_slist **list, const char *line) {
    struct curl_slist *grown = curl_slist_append(*list, line);
    if (grown == NULL) return 0;
    *list = grown;
    return 1;
}

/* The bearer line, built in a buffer we wipe; curl_slist keeps its own copy, wiped by slist_wipe_free. */
static int append_bearer(struct curl_slist **list, const char *token) {
    buffer auth;
    buffer_init(&auth);
    buffer_append_str(&auth, "Authorization: Bearer ");
    buffer_append_str(&auth, token);
    const char *line = buffer_cstr(&auth);
    int ok = line != NULL && append_line(list, line);
    buffer_wipe_free(&auth);
    return ok;
}

/* base_url (no trailing slash) + route + "?" + the encoded query; 0 when out of memory. */
static int build_url(falcon_client *c, const transfer_request *rq, buffer *url) {
    buffer_append_str(url, c->base_url);
    buffer_append_str(url, rq->route);
    if (rq->query != NULL && rq->query_len > 0) {
        buffer_append_char(url, '?');
        buffer_append(url, rq->query, rq->query_len);
    }
    return buffer_cstr(url) != NULL;
}

/* libcurl 7.88 loses a URL's query when its own copy of it cannot be allocated (it ignores that copy's
 * failure): the request would go out without its parameters. So the core hands it the request target
 * whole (the base URL's path, the route, the query), wherever that target is origin-form: always but for
 * plain http through a proxy that is not a tunnel, whose request line carries the URL (built from
 * libcurl's parsed URL, which keeps the query). Set on every call: the handle is reused. */
static int set_target(CURL *easy, const falcon_client *c, const buffer *url) {
    const char *target = NULL;
    endpoint ep;
    int origin_form = strncmp(c->base_url, "https:", 6) == 0 || !c->plain_proxy;
    if (origin_form && endpoint_parse(c->base_url, &ep)) target = url->data + (ep.prefix - c->base_url);
    return curl_easy_setopt(easy, CURLOPT_REQUEST_TARGET, target) == CURLE_OK;
}

/* Every method-related option is set on every call: the handle is reused without curl_easy_reset, so
 * nothing a previous request set may linger. A request without a body goes out as a GET does, under its own
 * method: no Content-Type, no Content-Length (libcurl's POSTFIELDS of "" would add both). Returns 0 when
 * libcurl could not copy the method (the request would go out as another). */
static int set_method(CURL *easy, const transfer_request *rq) {
    int has_body = rq->body != NULL || rq->form != NULL;
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(easy, CURLOPT_NOBODY, 0L);
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else if (!has_body) {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
        if (strcmp(rq->method, "GET") != 0) return curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, rq->method) == CURLE_OK;
    } else {
        if (rq->form != NULL) {
            multipart_rewind(rq->form);
            curl_easy_setopt(easy, CURLOPT_POST, 1L);
            curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(easy, CURLOPT_READDATA, rq->form);
            curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(easy, CURLOPT_SEEKDATA, rq->form);
            curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->form->length);
        } else {
            /* Not copied: the body outlives the transfer (a Lua string on the stack, or ours). */
            curl_easy_setopt(easy, CURLOPT_POSTFIELDS, rq->body);
            curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        }
        if (strcmp(rq->method, "POST") != 0) return curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, rq->method) == CURLE_OK;
    }
    return 1;
}

/* What is set here is set on every call, because the handle is reused without curl_easy_reset: a
 * callback, header list, timeout or buffer size left from the previous request would apply to this one.
 * The caller owns url and *headers from the start (transfer_cleanup frees them whatever happened). */
int transfer_prepare(CURL *easy, falcon_client *c, const transfer_request *rq, transfer_result *rs,
                     lua_State **L, idle_set *idle, buffer *url, struct curl_slist **headers) {
    buffer_init(url);
    *headers = NULL;
    if (!transfer_result_init(rs, rq, (size_t)c->max_body_bytes)) return 0;
    rs->L = L;
    rs->easy = easy;
    rs->idle = idle;
    rs->repeatable = rq->repeatable;

    struct curl_slist *list = NULL;
    int ok = build_url(c, rq, url);
    if (ok && rq->bearer && c->token != NULL) ok = append_bearer(&list, c->token);
    /* "Expect:" off: saves a round trip on every upload; the SDK checks sizes before sending. */
    if (ok && (rq->body != NULL || rq->form != NULL)) ok = append_line(&list, "Expect:");
    for (struct curl_slist *it = rq->headers; ok && it != NULL; it = it->next) ok = append_line(&list, it->data);
    /* Ready lines of the client, unless the caller gave their own: libcurl would format both afresh. */
    if (ok && !headers_list_has(rq->headers, "User-Agent")) ok = append_line(&list, c->user_agent->data);
    if (ok && !headers_list_has(rq->headers, "Accept-Encoding")) ok = append_line(&list, ACCEPT_ENCODING_LINE);
    /* The connection settings were applied once, when the handle was made (client_apply_settings);
     * only what belongs to this request is set here, every time. libcurl copies the URL, the request
     * target and the method: when it cannot, the request does not go out at all. */
    ok = ok && curl_easy_setopt(easy, CURLOPT_URL, url->data) == CURLE_OK && set_target(easy, c, url) && set_method(easy, rq);
    *headers = list;
    if (!ok) {
        rs->code = CURLE_OUT_OF_MEMORY;
        return 0;
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
    /* The header lines above go to the API only; a proxy's CONNECT (https) gets the user agent from
     * here. A plain-http request through a proxy is itself what the proxy sees: nothing to add. */
    curl_easy_setopt(easy, CURLOPT_PROXYHEADER, strncmp(url->data, "https:", 6) == 0 ? c->user_agent : NULL);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, rs->errbuf);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, rs);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, rs);
    if (rq->progress_ref != LUA_NOREF) {
        rs->progress_ref = rq->progress_ref;
        curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, progress_cb);
        curl_easy_setopt(easy, CURLOPT_XFERINFODATA, rs);
        curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
    } else {
        curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 1L);
    }
    /* A body for on_data may never end (a feed): no total time limit; read_timeout still ends a stall. */
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, rq->on_data_ref != LUA_NOREF ? 0L : c->timeout_ms);
    /* Downloads to a file read in large pieces, as the curl tool does: fewer, bigger writes. */
    curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, rq->save_to != NULL ? 128L * 1024 : (long)CURL_MAX_WRITE_SIZE);
    curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(easy, CURLOPT_PREREQDATA, rs);
    curl_easy_setopt(easy, CURLOPT_MAXAGE_CONN, rq->repeatable ? READ_REUSE_IDLE_S : WRITE_REUSE_IDLE_S);
    return 1;
}

/* libcurl's code says how the exchange ended from libcurl's side; the core knows more (a sink's reason,
 * a broken length, a second send refused, an upload file that failed) and rewrites the code to say
 * that, so that errors.c names the real cause. request_size is what tells whether the server may have
 * the request. */
void transfer_complete(CURL *easy, const transfer_request *rq, transfer_result *rs, CURLcode code) {
    rs->code = code;
    if (code == CURLE_WRITE_ERROR && rs->sink.failure != SINK_OK) transfer_sink_failed(rs);
    /* A header block or a body buffer that could not grow: memory, not a file (nor libcurl's text). */
    else if (code == CURLE_WRITE_ERROR && (rs->headers.failed || rs->body.failed)) {
        rs->code = CURLE_OUT_OF_MEMORY;
        rs->errbuf[0] = '\0';
    }
    if (rs->headers_too_large || rs->framing_broken) rs->code = CURLE_WEIRD_SERVER_REPLY;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &rs->status);
    long request_size = 0;
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);
    rs->request_size = request_size;
    /* A write that libcurl wanted to send a second time: it reached the server once. */
    if (rs->issued > 1 && !rs->repeatable) {
        rs->code = CURLE_SEND_ERROR;
        rs->request_size = request_size > 0 ? request_size : 1;
    }
    /* The read callback aborted: the upload's file failed, not the user (its detail says why, unless
     * there was no memory left to say it). */
    if (code == CURLE_ABORTED_BY_CALLBACK && rq->form != NULL && rq->form->read_failed) {
        rs->code = CURLE_READ_ERROR;
        rs->errbuf[0] = '\0';
        if (rs->detail == NULL && rq->form->detail != NULL) rs->detail = strdup(rq->form->detail);
    }
    transfer_finish_sink(rs);
}

void transfer_cleanup(CURL *easy, buffer *url, struct curl_slist **headers) {
    /* Pointers into this call's memory must not survive it. */
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_PROXYHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_READDATA, NULL);
    curl_easy_setopt(easy, CURLOPT_SEEKDATA, NULL);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    slist_wipe_free(*headers);
    *headers = NULL;
    buffer_free(url);
}

/* The blocking driver: one curl_easy_perform on the client's handle. performing is set only around it,
 * so a callback that tries to reuse or close the client raises instead of re-entering libcurl. The
 * state pointer lives on this stack frame: the callbacks see L for exactly this call. */
void transfer_perform(lua_State *L, falcon_client *c, const transfer_request *rq, transfer_result *rs) {
    buffer url;
    struct curl_slist *headers;
    lua_State *state = L;
    if (transfer_prepare(c->easy, c, rq, rs, &state, &c->idle, &url, &headers)) {
        idle_check(&c->idle);
        c->performing = 1;
        CURLcode code = curl_easy_perform(c->easy);
        c->performing = 0;
        idle_add_last(&c->idle, c->easy);
        c->requests++;
        transfer_complete(c->easy, rq, rs, code);
    }
    transfer_cleanup(c->easy, &url, &headers);
}

/* What became of a save_to download; nil for a body kept in memory (no table on the common path). */
static void push_saved(lua_State *L, const transfer_result *rs, const transfer_request *rq) {
    if (!rs->sink.to_file) {
        lua_pushnil(L);
        return;
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, rq->save_to);
    lua_setfield(L, -2, "saved_to");
    lua_pushnumber(L, (lua_Number)rs->sink.saved_bytes);
    lua_setfield(L, -2, "saved_bytes");
}

int transfer_push(lua_State *L, const transfer_request *rq, transfer_result *rs, int push_body) {
    if (rs->code != CURLE_OK) {
        int failed_json = json_body_push_error(L, &rs->sink.json, rq->method, rq->route);
        if (failed_json) return failed_json;
        const char *detail = rs->detail != NULL ? rs->detail : rs->errbuf;
        int pushed = 0;
        if (rs->sink.failure == SINK_FILE && rs->sink.detail != NULL && rq->save_to != NULL) {
            lua_pushfstring(L, "cannot write '%s': %s", rq->save_to, rs->sink.detail);
            pushed = 1;
        } else if (rs->sink.failure == SINK_TOO_LARGE) {
            lua_pushfstring(L, "the response body is larger than max_body_bytes (%s): raise max_body_bytes, or "
                               "save the body to a file with save_to", rs->sink.detail ? rs->sink.detail : "?");
            pushed = 1;
        } else if ((rs->sink.failure == SINK_ENCODING || rs->sink.failure == SINK_CALLBACK) && rs->sink.detail != NULL) {
            detail = rs->sink.detail;
        }
        if (pushed) detail = lua_tostring(L, -1);
        /* Nothing was sent when the connection never came up: the one case a write may be retried. */
        int reached = rs->request_size > 0;
        int n = errors_push_curl(L, rs->code, detail, rq->method, rq->route, reached);
        if (pushed) lua_remove(L, -3);
        return n;
    }
    /* The fields the sink read, and any line since (trailers): the head is parsed once. */
    if (!headers_fields_update(&rs->head))
        return errors_push_curl(L, CURLE_OUT_OF_MEMORY, "out of memory while reading the response headers", rq->method,
                                rq->route, 1);
    lua_pushinteger(L, (lua_Integer)rs->status);
    headers_push_fields(L, &rs->head);
    if (push_body && !rs->sink.to_file) {
        if (!json_body_push(L, &rs->sink.json)) lua_pushlstring(L, rs->body.data ? rs->body.data : "", rs->body.len);
    } else {
        lua_pushnil(L);
    }
    push_saved(L, rs, rq);
    return 4;
}
