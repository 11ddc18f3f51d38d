/* wire.c: the HTTP/1.1 request head, as libcurl writes it for the same request.
 *
 * spec/wire_spec.lua records what each driver puts on the wire, and the two must agree byte for byte
 * where it matters (request line, Host, the caller's headers, framing): a server, a proxy or a WAF that
 * treats one driver's requests differently from the other's would be a bug nobody could reproduce with
 * the other driver. The head is built in one buffer that holds the token: its owner (exchange.c) wipes
 * it. Nothing here checks the request: request.c and auth.c made it, and refused CR/LF in every part. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"
#include "wire.h"

/* A body is a string or a form (a raw file body is a form too); an empty string is still a body. */
static int has_body(const transfer_request *rq) {
    return rq->body != NULL || rq->form != NULL;
}

/* As the libcurl path sends it (transfer.c, set_method): a request without a body, whatever its method,
 * has no Content-Length and no Content-Type. */
long long wire_content_length(const transfer_request *rq) {
    if (strcmp(rq->method, "HEAD") == 0 || !has_body(rq)) return -1;
    if (rq->form != NULL) return rq->form->length;
    return rq->body != NULL ? (long long)rq->body_len : 0;
}

/* A request header replaces libcurl's own of the same name ("Name:" alone removes it). Checked per
 * header the driver would add, as libcurl does, so a caller's Host or User-Agent wins under both. */
static int given(const transfer_request *rq, const char *name) {
    return headers_list_has(rq->headers, name);
}

/* Appends one "Name: value" line; the buffer's failure flag collects any failure for wire_head. */
static void header(buffer *out, const char *name, const char *value) {
    buffer_append_str(out, name);
    buffer_append_str(out, ": ");
    buffer_append_str(out, value);
    buffer_append_str(out, "\r\n");
}

/* The request target is the origin form (path and query, under the base URL's prefix): this driver
 * never goes through a proxy (drivers/cosocket.lua refuses one). Header order follows libcurl's. Returns 0 when
 * out of memory. */
int wire_head(const falcon_client *c, const endpoint *ep, const transfer_request *rq, buffer *out) {
    char number[32];
    buffer_append_str(out, rq->method);
    buffer_append_char(out, ' ');
    buffer_append(out, ep->prefix, ep->prefix_len);
    buffer_append_str(out, rq->route);
    if (rq->query != NULL && rq->query_len > 0) {
        buffer_append_char(out, '?');
        buffer_append(out, rq->query, rq->query_len);
    }
    buffer_append_str(out, " HTTP/1.1\r\n");
    if (!given(rq, "Host")) {
        buffer_append_str(out, "Host: ");
        buffer_append_str(out, ep->host);
        if (ep->port != ep->default_port) {
            snprintf(number, sizeof number, ":%d", ep->port);
            buffer_append_str(out, number);
        }
        buffer_append_str(out, "\r\n");
    }
    if (!given(rq, "User-Agent")) {
        buffer_append_str(out, c->user_agent->data);
        buffer_append_str(out, "\r\n");
    }
    if (!given(rq, "Accept")) header(out, "Accept", "*/*");
    /* This driver asks for no compression (drivers/cosocket.lua says so); the sink would still decode a gzip
     * body a server sent unasked. */
    if (!given(rq, "Accept-Encoding")) header(out, "Accept-Encoding", "identity");
    if (rq->bearer && c->token != NULL && !given(rq, "Authorization")) {
        buffer_append_str(out, "Authorization: Bearer ");
        buffer_append_str(out, c->token);
        buffer_append_str(out, "\r\n");
    }
    for (const struct curl_slist *it = rq->headers; it != NULL; it = it->next) {
        const char *colon = strchr(it->data, ':');
        if (colon == NULL || colon[1] == '\0') continue; /* "Name:" only removes libcurl's header */
        if (strncasecmp(it->data, "Content-Length:", 15) == 0 || strncasecmp(it->data, "Connection:", 11) == 0 ||
            strncasecmp(it->data, "Transfer-Encoding:", 18) == 0)
            continue; /* framing is this driver's business */
        buffer_append_str(out, it->data);
        buffer_append_str(out, "\r\n");
    }
    long long length = wire_content_length(rq);
    if (length >= 0) {
        /* libcurl's default for a POST body without a type */
        if (!given(rq, "Content-Type")) header(out, "Content-Type", "application/x-www-form-urlencoded");
        snprintf(number, sizeof number, "%lld", length);
        header(out, "Content-Length", number);
    }
    /* Said explicitly (HTTP/1.1's default): nginx's cosocket pool keeps the connection for the next
     * request, as libcurl's cache does. */
    buffer_append_str(out, "Connection: keep-alive\r\n\r\n");
    return !out->failed;
}
