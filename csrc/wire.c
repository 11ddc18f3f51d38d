/* wire.c: the HTTP/1.1 request head, as libcurl writes it for the same request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"
#include "wire.h"

int wire_endpoint_parse(const char *base_url, wire_endpoint *ep) {
    memset(ep, 0, sizeof *ep);
    const char *rest;
    if (strncmp(base_url, "https://", 8) == 0) {
        ep->tls = 1;
        ep->default_port = 443;
        rest = base_url + 8;
    } else if (strncmp(base_url, "http://", 7) == 0) {
        ep->default_port = 80;
        rest = base_url + 7;
    } else {
        return 0;
    }
    size_t authority = strcspn(rest, "/");
    const char *at = memchr(rest, '@', authority); /* user:password@ is not sent by this driver */
    if (at != NULL) {
        authority -= (size_t)(at + 1 - rest);
        rest = at + 1;
    }
    size_t host_len = authority;
    const char *colon = NULL;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', authority);
        if (close == NULL) return 0;
        host_len = (size_t)(close - rest) + 1;
        if (host_len < authority) {
            if (rest[host_len] != ':') return 0;
            colon = rest + host_len;
        }
    } else {
        colon = memchr(rest, ':', authority);
        if (colon != NULL) host_len = (size_t)(colon - rest);
    }
    if (host_len == 0 || host_len >= sizeof ep->host) return 0;
    memcpy(ep->host, rest, host_len);
    ep->port = ep->default_port;
    if (colon != NULL) {
        long port = 0;
        size_t digits = authority - (size_t)(colon + 1 - rest);
        if (digits == 0 || digits > 5) return 0;
        for (size_t i = 0; i < digits; i++) {
            char ch = colon[1 + i];
            if (ch < '0' || ch > '9') return 0;
            port = port * 10 + (ch - '0');
        }
        if (port < 1 || port > 65535) return 0;
        ep->port = (int)port;
    }
    ep->prefix = rest + authority;
    ep->prefix_len = strlen(ep->prefix);
    return 1;
}

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

/* A request header replaces libcurl's own of the same name ("Name:" alone removes it). */
static int given(const transfer_request *rq, const char *name) {
    return headers_list_has(rq->headers, name);
}

static void header(buffer *out, const char *name, const char *value) {
    buffer_append_str(out, name);
    buffer_append_str(out, ": ");
    buffer_append_str(out, value);
    buffer_append_str(out, "\r\n");
}

int wire_head(const falcon_client *c, const wire_endpoint *ep, const transfer_request *rq, buffer *out) {
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
    /* This driver does not decode compressed bodies, so it asks for none. */
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
    buffer_append_str(out, "Connection: keep-alive\r\n\r\n");
    return !out->failed;
}
