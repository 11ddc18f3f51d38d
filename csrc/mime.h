/* mime.h: multipart/form-data bodies built with libcurl's MIME API. */
#ifndef FALCON_MIME_H
#define FALCON_MIME_H

#include <curl/curl.h>
#include <lua.h>
#include <stddef.h>

/* 1 when s can stand in a Content-Disposition name or filename: no control bytes, quotes or
 * backslashes (libcurl would otherwise have to escape them, and servers disagree on how). */
int mime_name_valid(const char *s, size_t len);

/* Checks the form array at idx and raises a Lua error naming the bad part; allocates nothing. */
void mime_check(lua_State *L, int idx);

/* Builds the form (after mime_check); file parts stream from disk. NULL on allocation failure. */
curl_mime *mime_build(lua_State *L, CURL *easy, int idx);

#endif
