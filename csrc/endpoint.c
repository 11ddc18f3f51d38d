/* endpoint.c: a base URL's parts (see endpoint.h).
 *
 * The URL is the client's base_url, which client.c has checked to start with http:// or https:// and to
 * hold no control characters or spaces; what remains to check is what a typo or a hostile configuration
 * can still put there: an empty host, a bracket left open, a port out of range. libcurl reads the same
 * URL on its own for the libcurl drivers; this reading serves the socket driver and the request target,
 * and refuses anything libcurl might read differently rather than guess. */
#include <string.h>

#include "endpoint.h"

int endpoint_parse(const char *base_url, endpoint *ep) {
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
    /* The authority ends at the first '/', or with the string (a base URL without a path). */
    size_t authority = strcspn(rest, "/");
    const char *at = memchr(rest, '@', authority); /* user:password@ is not sent by this driver */
    if (at != NULL) {
        authority -= (size_t)(at + 1 - rest);
        rest = at + 1;
    }
    size_t host_len = authority;
    const char *colon = NULL;
    /* An IPv6 literal: its colons are not the port's, so the port is only after the ']'. */
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
    /* 255 bytes is DNS's limit on a name; ep->host keeps its NUL. */
    if (host_len == 0 || host_len >= sizeof ep->host) return 0;
    memcpy(ep->host, rest, host_len);
    ep->port = ep->default_port;
    if (colon != NULL) {
        long port = 0;
        size_t digits = authority - (size_t)(colon + 1 - rest);
        /* Five digits at most, so port cannot overflow while it is read ("http://h:" has none). */
        if (digits == 0 || digits > 5) return 0;
        for (size_t i = 0; i < digits; i++) {
            char ch = colon[1 + i];
            if (ch < '0' || ch > '9') return 0;
            port = port * 10 + (ch - '0');
        }
        if (port < 1 || port > 65535) return 0;
        ep->port = (int)port;
    }
    /* The path prefix stays a pointer into base_url: the client owns it and outlives every exchange. */
    ep->prefix = rest + authority;
    ep->prefix_len = strlen(ep->prefix);
    return 1;
}
