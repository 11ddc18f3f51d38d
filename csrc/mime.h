/* mime.h: checks of multipart form parts and of the names that go into their headers. */
#ifndef FALCON_MIME_H
#define FALCON_MIME_H

#include <lua.h>
#include <stddef.h>

/* 1 when s can stand in a Content-Disposition name or filename: no control bytes, quotes or
 * backslashes (libcurl would otherwise have to escape them, and servers disagree on how). */
int mime_name_valid(const char *s, size_t len);

/* Checks the form array at idx and raises "falcon: <where>: ..." naming the bad part; allocates nothing. */
void mime_check(lua_State *L, int idx, const char *where);


#endif
