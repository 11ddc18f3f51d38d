/* json_body.c: decoding a response body as it arrives (see json_body.h).
 *
 * Called from the body sink, which libcurl's write callback and the cosocket driver's http_parser both
 * feed: so nothing here may raise (json_decoder_feed runs yajl in a protected call of its own) and every
 * failure is a state the sink turns into a stopped transfer. The decoder is the request's (borrowed), and
 * its values stay on the decoder's thread until json_body_push moves the finished one to the caller. */
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "json_body.h"

/* head is borrowed from the transfer result: it is read at the first body byte, by which time the
 * (last) header block is complete. */
void json_body_attach(json_body *jb, json_decoder *decoder, int binary, const header_fields *head) {
    jb->decoder = decoder;
    jb->binary = binary;
    jb->head = head;
    jb->state = JSON_BODY_OFF;
    jb->status = 0;
    jb->not_json = 0;
}

/* "application/json", "application/problem+json", "text/json; charset=utf-8": any media type naming JSON
 * is read as JSON (README: "whose Content-Type says JSON"). */
static int contains_json(const char *value, size_t len) {
    for (size_t i = 0; i + 4 <= len; i++)
        if (strncasecmp(value + i, "json", 4) == 0) return 1;
    return 0;
}

/* The engine's rule: a Content-Type of the last header block that names JSON (from the head's fields, which
 * the sink has just brought up to date). */
static int content_type_is_json(const header_fields *h) {
    for (size_t i = 0; i < h->count; i++) {
        const header_field *f = &h->fields[i];
        if (f->name_len == 12 && strncasecmp(h->block->data + f->name, "Content-Type", 12) == 0 &&
            contains_json(h->block->data + f->value, f->value_len))
            return 1;
    }
    return 0;
}

/* A 2xx is an answer the caller takes as data, so it must be what it claims; other statuses are read
 * for their error envelope, and may come from a proxy or load balancer that says JSON and is not. */
static int is_success(long status) {
    return status >= 200 && status <= 299;
}

/* Decided once per answer, at its first body byte (an empty body is never decoded: it stays ""). A 2xx
 * of a download (binary) stays bytes whatever its Content-Type claims. */
void json_body_begin(json_body *jb, long status) {
    jb->state = JSON_BODY_OFF;
    jb->status = status;
    if (jb->decoder == NULL || (jb->binary && is_success(status)) || jb->head == NULL) return;
    int is_json = content_type_is_json(jb->head);
    /* A decoder spent by a memory error cannot start again: the body then stays bytes. */
    if (is_json && json_decoder_reset(jb->decoder) == JSON_OK) jb->state = JSON_BODY_DECODING;
}

/* Invalid JSON: a 2xx fails (it is not what it claims); any other status keeps its bytes. */
static int invalid_state(json_body *jb) {
    if (!is_success(jb->status)) return JSON_BODY_INVALID;
    jb->not_json = 1;
    return JSON_BODY_FAILED;
}

/* A non-2xx is both decoded and kept raw (up to JSON_RAW_KEEP), because whether it decodes is known only
 * at its end; a 2xx that stops decoding stops the transfer at once, so its bytes are never kept. */
int json_body_write(json_body *jb, buffer *raw, const char *data, size_t len) {
    /* Only a non-2xx may end up as its bytes: a 2xx's are never copied. */
    if (!is_success(jb->status) && raw->len < JSON_RAW_KEEP) {
        size_t room = JSON_RAW_KEEP - raw->len;
        if (!buffer_append(raw, data, len < room ? len : room)) return 0;
    }
    if (jb->state == JSON_BODY_DECODING) {
        enum json_status status = json_decoder_feed(jb->decoder, data, len);
        if (status == JSON_INVALID) jb->state = invalid_state(jb);
        else if (status != JSON_OK) jb->state = JSON_BODY_FAILED;
    }
    return jb->state != JSON_BODY_FAILED;
}

/* The end of the body: a value still open (a text cut short) is invalid like any other bad JSON. */
int json_body_finish(json_body *jb) {
    if (jb->state != JSON_BODY_DECODING) return jb->state != JSON_BODY_FAILED;
    enum json_status status = json_decoder_finish(jb->decoder);
    if (status == JSON_OK) jb->state = JSON_BODY_DONE;
    else if (status == JSON_INVALID) jb->state = invalid_state(jb);
    else jb->state = JSON_BODY_FAILED;
    return jb->state != JSON_BODY_FAILED;
}

/* Moves the decoded value from the decoder's thread to L (no copy: a Lua value changes stacks). */
int json_body_push(lua_State *L, json_body *jb) {
    return jb->state == JSON_BODY_DONE && json_decoder_pull(jb->decoder, L);
}

/* The error names the request (method and route) and the decoder's reason, which says where the text
 * broke (a byte offset) but repeats none of it: a body is the server's, and may hold anything. */
int json_body_push_error(lua_State *L, const json_body *jb, const char *method, const char *route) {
    if (jb->state != JSON_BODY_FAILED) return 0;
    const char *why = json_decoder_error(jb->decoder);
    if (why == NULL) why = "the body could not be decoded";
    if (jb->not_json)
        lua_pushfstring(L, "json error: the %d answer's Content-Type says JSON, but its body is not JSON: %s (%s %s)",
                        (int)jb->status, why, method, route);
    else
        lua_pushfstring(L, "json error: %s (%s %s)", why, method, route);
    errors_push(L, "json", lua_tostring(L, -1), 1);
    lua_remove(L, -3);
    return 2;
}
