/* response.c: driving http_parser and collecting what it reports.
 *
 * The cosocket driver's half of "the drivers put the same answer in the same place": http_parser's
 * callbacks rebuild the raw "Name: value\r\n" header block libcurl's header callback would have
 * collected (transfer_headers_append, with the same bound), and the body goes through the same sink
 * (sink.c) with its decoding, limits and JSON. Failures are given libcurl's codes for the same events, so
 * errors.c reports them with the same kind and the retry policy treats them the same. A callback that
 * returns nonzero makes http_parser stop with an HPE_CB_* error, which response_feed maps back. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>

#include "response.h"

static response_parser *of(http_parser *p) {
    return p->data;
}

/* A new message: after a 1xx interim answer the real answer's headers replace the interim ones, as
 * libcurl keeps only the last block's. */
static int on_message_begin(http_parser *p) {
    response_parser *rp = of(p);
    transfer_headers_reset(rp->rs);
    rp->in_value = 0;
    return 0;
}

/* http_parser may report a name or value in several pieces (split across feeds): a name after a value
 * starts a new line, a value after a name gets the ": " between them. Past TRANSFER_HEADERS_MAX the
 * append fails and parsing stops (rs->headers_too_large says why). */
static int on_header_field(http_parser *p, const char *at, size_t len) {
    response_parser *rp = of(p);
    if (rp->in_value && !transfer_headers_append(rp->rs, "\r\n", 2)) return -1;
    rp->in_value = 0;
    return transfer_headers_append(rp->rs, at, len) ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
    response_parser *rp = of(p);
    if (!rp->in_value && !transfer_headers_append(rp->rs, ": ", 2)) return -1;
    rp->in_value = 1;
    return transfer_headers_append(rp->rs, at, len) ? 0 : -1;
}

/* The head is complete: status, and the announced length for progress (-1: chunked or unknown, read
 * until the connection closes). http_parser has already refused an ambiguous length (two
 * Content-Lengths, or one beside chunked): see response_feed. */
static int on_headers_complete(http_parser *p) {
    response_parser *rp = of(p);
    buffer *h = &rp->rs->headers;
    if (rp->in_value) buffer_append_str(h, "\r\n");
    rp->in_value = 0;
    if (h->failed) return -1;
    rp->rs->status = (long)p->status_code;
    rp->content_length = (p->flags & F_CHUNKED) || p->content_length == (uint64_t)-1 ? -1 : (long long)p->content_length;
    /* 1 tells http_parser that this message has no body. */
    return rp->head_request ? 1 : 0;
}

/* A body chunk into the sink (memory, a file, or the JSON decoder); a sink that refuses (a limit, a
 * write error, a 2xx that is not the JSON it claims) stops the parse. */
static int on_body(http_parser *p, const char *at, size_t len) {
    response_parser *rp = of(p);
    rp->body_started = 1;
    rp->body_bytes += (long long)len;
    if (!sink_write(&rp->rs->sink, rp->rs->status, at, len)) {
        rp->sink_failed = 1;
        return -1;
    }
    return 0;
}

/* Whether the connection may be kept is http_parser's reading of the HTTP version and Connection
 * header, the same rules libcurl applies. */
static int on_message_complete(http_parser *p) {
    response_parser *rp = of(p);
    if (p->status_code >= 100 && p->status_code < 200) return 0; /* interim: the real answer follows */
    rp->complete = 1;
    rp->keep_alive = http_should_keep_alive(p);
    http_parser_pause(p, 1); /* anything after this message is not ours to read */
    return 0;
}

/* rs is borrowed (the exchange owns both); head_request because only the request knows that an answer
 * to HEAD has no body whatever its Content-Length says. */
void response_init(response_parser *rp, transfer_result *rs, int head_request) {
    memset(rp, 0, sizeof *rp);
    http_parser_settings_init(&rp->settings);
    rp->settings.on_message_begin = on_message_begin;
    rp->settings.on_header_field = on_header_field;
    rp->settings.on_header_value = on_header_value;
    rp->settings.on_headers_complete = on_headers_complete;
    rp->settings.on_body = on_body;
    rp->settings.on_message_complete = on_message_complete;
    http_parser_init(&rp->parser, HTTP_RESPONSE);
    /* Control characters in a header value are taken as libcurl takes them (the drivers must agree on
     * what is an answer); whoever shows a value escapes it (the engine's log, APIError). */
    rp->parser.lenient_http_headers = 1;
    rp->parser.data = rp;
    rp->rs = rs;
    rp->head_request = head_request;
    rp->content_length = -1;
}

/* The first failure's detail stands (strdup: the caller frees rs->detail with the result; NULL when
 * memory ran out, which errors.c then reports by the code alone). A failed answer's connection is never
 * reused: where the next answer would start is unknown. */
static int fail(response_parser *rp, CURLcode code, const char *detail) {
    rp->rs->code = code;
    if (rp->rs->detail == NULL && detail != NULL) rp->rs->detail = strdup(detail);
    rp->keep_alive = 0;
    return RESPONSE_FAILED;
}

/* The order of the checks below is the order of precedence: a limit the sink hit or a header block
 * past its bound explains an error better than the parser's generic one, which they caused. */
int response_feed(response_parser *rp, const char *data, size_t len) {
    if (rp->complete) {
        if (len > 0) rp->keep_alive = 0; /* bytes nobody asked for: do not reuse the connection */
        return RESPONSE_DONE;
    }
    if (len == 0 && !rp->received) return fail(rp, CURLE_GOT_NOTHING, "Empty reply from server");
    rp->received = 1;
    size_t used = http_parser_execute(&rp->parser, &rp->settings, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&rp->parser);
    if (rp->complete) {
        if (used < len) rp->keep_alive = 0;
        return RESPONSE_DONE;
    }
    if (rp->sink_failed) {
        transfer_sink_failed(rp->rs);
        return fail(rp, rp->rs->code, NULL);
    }
    if (rp->rs->headers_too_large) return fail(rp, CURLE_WEIRD_SERVER_REPLY, NULL);
    if (err == HPE_CB_header_field || err == HPE_CB_header_value || err == HPE_CB_headers_complete)
        return fail(rp, CURLE_OUT_OF_MEMORY, "out of memory while reading the response headers");
    if (err == HPE_UNEXPECTED_CONTENT_LENGTH || err == HPE_INVALID_CONTENT_LENGTH)
        return fail(rp, CURLE_WEIRD_SERVER_REPLY, TRANSFER_BROKEN_LENGTH); /* as transfer.c says it */
    if (err != HPE_OK) {
        if (len == 0 && rp->body_started) return fail(rp, CURLE_PARTIAL_FILE, "the connection closed before the whole body arrived");
        if (len == 0) return fail(rp, CURLE_RECV_ERROR, "the connection closed before the response was complete");
        return fail(rp, CURLE_WEIRD_SERVER_REPLY, http_errno_description(err));
    }
    if (len == 0) {
        /* EOF that did not end the message (http_parser reports some of these without an error). */
        if (rp->body_started || rp->rs->status > 0)
            return fail(rp, CURLE_PARTIAL_FILE, "the connection closed before the whole body arrived");
        return fail(rp, CURLE_RECV_ERROR, "the connection closed before the response was complete");
    }
    return RESPONSE_MORE;
}
