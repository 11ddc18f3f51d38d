/* wire.h: a request as HTTP/1.1 bytes, for drivers that own the socket (ngx_lua cosockets). The head is
 * built from the same transfer_request the libcurl path sends (request.c, auth.c), with the headers
 * libcurl would add, so the two drivers put the same request on the wire. */
#ifndef FALCON_WIRE_H
#define FALCON_WIRE_H

#include "buffer.h"
#include "client.h"
#include "transfer.h"

typedef struct {
    int tls;
    char host[256];      /* as written in the URL (an IPv6 literal keeps its brackets) */
    int port;
    int default_port;    /* 80 for http, 443 for https: then Host carries no port, as libcurl's */
    const char *prefix;  /* path of the base URL (borrowed), may be empty */
    size_t prefix_len;
} wire_endpoint;

/* Splits an http:// or https:// base URL. Returns 0 when it cannot be read (no host, bad port). */
int wire_endpoint_parse(const char *base_url, wire_endpoint *ep);

/* The body length the head announces: the form's, the body's, 0 for a bodiless POST-like request,
 * -1 when the request has no body at all (GET, HEAD). */
long long wire_content_length(const transfer_request *rq);

/* Appends the request head (request line, Host, User-Agent, Accept, Accept-Encoding, Authorization,
 * the request's headers, Content-Type/Length, Connection) to out. out may hold the token: wipe it. */
int wire_head(const falcon_client *c, const wire_endpoint *ep, const transfer_request *rq, buffer *out);

#endif
