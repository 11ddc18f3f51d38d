/* query.h: form/query percent-encoding, as Python's urlencode does it (space -> '+'). */
#ifndef FALCON_QUERY_H
#define FALCON_QUERY_H

#include <lua.h>

#include "buffer.h"

/* Appends s percent-encoded: unreserved bytes kept, space as '+', everything else %XX. */
int query_escape(buffer *out, const char *s, size_t len);

/* Appends "k=v&k=v" from the array of {name, value} pairs at idx; raises "falcon: <where>: ..." naming a
 * bad pair. */
void query_build(lua_State *L, int idx, buffer *out, const char *where);

/* core.encode_query(pairs) -> string */
int query_lua_encode(lua_State *L);
void query_register(lua_State *L);

#endif
