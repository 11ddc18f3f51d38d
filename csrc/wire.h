/* wire.h: a request as HTTP/1.1 bytes, for drivers that own the socket (ngx_lua cosockets). The head is
 * built from the same transfer_request the libcurl path sends (request.c, auth.c), with the headers
 * libcurl would add, so the two drivers put the same request on the wire. */
#ifndef FALCON_WIRE_H
#define FALCON_WIRE_H

#include "buffer.h"
#include "client.h"
#include "endpoint.h"
#include "transfer.h"

/* The body length the head announces: the form's, the body's, 0 for a bodiless POST-like request,
 * -1 when the request has no body at all (GET, HEAD). */
long long wire_content_length(const transfer_request *rq);

/* Appends the request head (request line, Host, User-Agent, Accept, Accept-Encoding, Authorization,
 * the request's headers, Content-Type/Length, Connection) to out. out may hold the token: wipe it. */
int wire_head(const falcon_client *c, const endpoint *ep, const transfer_request *rq, buffer *out);

#endif
