/* request.h: a request table from Lua, checked and turned into a transfer_request. */
#ifndef FALCON_REQUEST_H
#define FALCON_REQUEST_H

#include <curl/curl.h>
#include <lua.h>

#include "buffer.h"
#include "transfer.h"

/* Reads the request table at idx: {method, path, query, headers, body, body_path, content_type, form,
 * save_to, progress, on_data, auth}. Raises a Lua error naming the bad field before allocating anything;
 * past the checks only a memory error raises. Returns 0 when out of memory. rq and query must belong to
 * something a raise leaves to __gc (an exchange's userdata), which frees them with request_free. */
int request_from_lua(lua_State *L, int idx, transfer_request *rq, buffer *query);
void request_free(lua_State *L, transfer_request *rq, buffer *query);

#endif
