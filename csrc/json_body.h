/* json_body.h: a response body decoded while it arrives, the one hook of body_sink (sink.c) into the JSON
 * decoder, and so the one place every driver decides what an answer that claims JSON is. A body is
 * decoded when its request carries a decoder (the engine's API calls do), its Content-Type names JSON
 * and it is not a download (a binary operation's 2xx). What does not decode:
 * - a 2xx is an error of kind "json" (an answer that is not what it claims is never a success; the
 *   transfer stops at the first bad byte);
 * - any other status stands (the engine's retries and renewal act on it); its body is the bytes sent, of
 *   which the first JSON_RAW_KEEP are kept for that.
 * A body past a limit (depth, size, string) is an error of kind "json" whatever the status. */
#ifndef FALCON_JSON_BODY_H
#define FALCON_JSON_BODY_H

#include <lua.h>

#include "buffer.h"
#include "headers.h"
#include "json_decode.h"

#define JSON_RAW_KEEP (64 * 1024)

enum { JSON_BODY_OFF = 0, JSON_BODY_DECODING, JSON_BODY_DONE, JSON_BODY_INVALID, JSON_BODY_FAILED };

typedef struct {
    json_decoder *decoder;  /* borrowed from the request; NULL: every body stays bytes */
    const header_fields *head; /* the response's header fields, read at the first body byte (the sink parsed them) */
    int binary;             /* a 2xx body stays bytes */
    int state;
    long status;            /* of the answer whose body this is */
    int not_json;           /* failed because the body is not JSON (not a limit) */
} json_body;

/* Readies jb for one response (sink_init memsets the sink; this comes after). */
void json_body_attach(json_body *jb, json_decoder *decoder, int binary, const header_fields *head);

/* At the first body byte: decides whether this body is decoded. */
void json_body_begin(json_body *jb, long status);

/* Body bytes of a decoded body; raw keeps the first bytes of a non-2xx. Returns 0 to stop the transfer
 * (jb failed, or memory ran out when jb->state is not JSON_BODY_FAILED). */
int json_body_write(json_body *jb, buffer *raw, const char *data, size_t len);

/* The body is complete. Returns 0 when it failed (a limit, or a 2xx that is not JSON). */
int json_body_finish(json_body *jb);

/* Pushes the decoded value and returns 1; 0 when the body is the bytes in raw. */
int json_body_push(lua_State *L, json_body *jb);

/* When the body failed: pushes nil and the "json" error {kind, message, reached_server} and returns 2;
 * otherwise 0. */
int json_body_push_error(lua_State *L, const json_body *jb, const char *method, const char *route);

#endif
