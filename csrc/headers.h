/* headers.h: response header parsing and the case-insensitive headers table. */
#ifndef FALCON_HEADERS_H
#define FALCON_HEADERS_H

#include <curl/curl.h>
#include <lua.h>
#include <stddef.h>

typedef void (*header_fn)(void *ud, const char *name, size_t nlen, const char *value, size_t vlen);

/* Calls fn for each "Name: value" line of a raw header block. A status line ("HTTP/...") starts a new
 * block (after 100-continue or a proxy CONNECT) and is reported with name == NULL. Malformed lines are
 * skipped. Never reads past len. */
void headers_parse(const char *block, size_t len, header_fn fn, void *ud);

/* Pushes a table of the last header block; lookups ignore case (a metatable does it). */
void headers_push(lua_State *L, const char *block, size_t len);

void headers_register(lua_State *L);

/* True for a character allowed in an HTTP header name (a token character). */
int headers_token_char(unsigned char c);

/* True when a "Name: value" list has a line for name (compared without case). */
int headers_list_has(const struct curl_slist *list, const char *name);

#endif
