/* endpoint.h: where a client's base URL points: scheme, host, port and path prefix. Read by the socket
 * driver (exchange.c, wire.c: where to connect, what Host says) and by the libcurl path (transfer.c: the
 * request target a plain-http proxy is sent), so both split a URL the same way. Depends on nothing. */
#ifndef FALCON_ENDPOINT_H
#define FALCON_ENDPOINT_H

#include <stddef.h>

typedef struct {
    int tls;
    char host[256];      /* as written in the URL (an IPv6 literal keeps its brackets) */
    int port;
    int default_port;    /* 80 for http, 443 for https: then Host carries no port, as libcurl's */
    const char *prefix;  /* path of the base URL (borrowed: points into it), may be empty */
    size_t prefix_len;
} endpoint;

/* Splits an http:// or https:// base URL into ep. Returns 0 when it cannot be read (no host, a host
 * longer than 255 bytes, a port that is not 1..65535). A user:password@ part is skipped: neither driver
 * sends credentials from the URL. */
int endpoint_parse(const char *base_url, endpoint *ep);

#endif
