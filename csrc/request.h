/* request.h: a request table from Lua, checked and turned into a transfer_request. */
#ifndef FALCON_REQUEST_H
#define FALCON_REQUEST_H

#include <curl/curl.h>
#include <lua.h>

#include "buffer.h"
#include "transfer.h"

/* Reads the request table at idx: {method, path, query, headers, body, body_path, content_type, form,
 * save_to, progress, on_data, auth}. Raises a Lua error naming the bad field before allocating anything. Returns 0 when out of memory. Free with request_free whatever the outcome
 * (after a raise there is nothing to free). */
int request_from_lua(lua_State *L, int idx, transfer_request *rq, buffer *query);
void request_free(lua_State *L, transfer_request *rq, buffer *query);

#endif
