/* headers.h: response header parsing and the case-insensitive headers table. */
#ifndef FALCON_HEADERS_H
#define FALCON_HEADERS_H

#include <curl/curl.h>
#include <lua.h>
#include <stddef.h>

#include "buffer.h"

typedef void (*header_fn)(void *ud, const char *name, size_t nlen, const char *value, size_t vlen);

/* Calls fn for each "Name: value" line of a raw header block. A status line ("HTTP/...") starts a new
 * block (after 100-continue or a proxy CONNECT) and is reported with name == NULL. Malformed lines are
 * skipped. Never reads past len. */
void headers_parse(const char *block, size_t len, header_fn fn, void *ud);

/* Pushes a table of the last header block; lookups ignore case (a metatable does it). */
void headers_push(lua_State *L, const char *block, size_t len);

/* One field of a header block, as offsets into it (the block's memory moves as it grows). */
typedef struct {
    size_t name, name_len, value, value_len;
} header_field;

/* A response's header block and its fields, parsed once for every reader: the body sink (Content-Encoding,
 * and Content-Type for the JSON decoder) and the Lua table (headers_push_fields). Lines that come later
 * (trailers) are parsed when the fields are next brought up to date; a status line (after 100-continue or
 * a proxy's CONNECT) starts the fields again, so they are always the last block's. */
typedef struct {
    const buffer *block;   /* the raw lines, borrowed (the transfer_result's) */
    header_field *fields;  /* owned; count in use, cap allocated */
    size_t count, cap;
    size_t parsed;         /* bytes of the block read into fields: whole lines only */
} header_fields;

void headers_fields_init(header_fields *h, const buffer *block);
/* Forgets the fields: the block is being started again (transfer_headers_reset). */
void headers_fields_reset(header_fields *h);
/* Reads the complete lines of the block not read yet. Returns 0 when out of memory. */
int headers_fields_update(header_fields *h);
/* The value of the last field named name (compared without case) and its length, or NULL. */
const char *headers_fields_get(const header_fields *h, const char *name, size_t *len);
/* Pushes the table headers_push makes of the fields read so far. */
void headers_push_fields(lua_State *L, const header_fields *h);
void headers_fields_free(header_fields *h);

void headers_register(lua_State *L);

/* True for a character allowed in an HTTP header name (a token character). */
int headers_token_char(unsigned char c);

/* True when a "Name: value" list has a line for name (compared without case). */
int headers_list_has(const struct curl_slist *list, const char *name);

#endif
