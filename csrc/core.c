/* core.c: luaopen_falcon_core, the entry point of the C module.
 *
 * Who owns what across the Lua/C line:
 * - Lua owns the userdata (client, multi, transfer, exchange); each frees its C memory in __gc/close,
 *   safely twice. The C structs never outlive their userdata.
 * - Each exchange, whichever driver runs it (client:perform on the stack of the call, a multi transfer,
 *   a cosocket exchange), owns one prepared_request (kinds.c): the request, its encoded query and the
 *   secret token/revoke form, freed (the form wiped) by kind_free.
 * - A request (request.c) points into Lua strings (method, route, body, save_to, form parts): it holds
 *   them in an anchor table of its own, referenced from the registry until request_free, so the
 *   caller's table may change or go while the request is in flight. Query, headers and the multipart
 *   framing are copied into C memory owned by the request.
 * - A transfer (multi.c) or exchange (exchange.c) holds a registry reference to its client; a transfer
 *   also holds one to itself while in flight (Lua may drop it; the scheduler gets it back from perform). A multi transfer's libcurl options point into its client (the proxy header
 *   list): it is in the client's list of users, and client:close() ends it first, with an error.
 *   Nothing may be closed from a libcurl callback (progress, on_data): close() raises there.
 * - A request's progress and on_data functions and its JSON decoder are held by registry references the
 *   request owns (request.c), dropped in request_free; the transfer result only borrows them in flight.
 * - Secrets (credentials, token, proxy URL) are C strings owned by the client, wiped when freed, never
 *   pushed to Lua; buffers and header lists that carried them are wiped before they are freed.
 * - libcurl owns its sockets; the core only shuts down (never closes) an idle one (idle.c).
 *
 * Any allocation may fail (`make torture` fails each in turn, spec/torture/):
 * - Lua raises a memory error wherever it allocates. So C memory that lives while Lua allocates belongs
 *   to a userdata made first, whose __gc frees it: client:perform's perform record (perform.c), a multi
 *   transfer, a cosocket exchange (each holding its prepared_request and transfer_result: the query,
 *   the form, the header lines, the answer), core.encode_query's buffer (query.c). A form belongs to its
 *   request from its first byte (multipart_from_lua). Code that pushes a C buffer's bytes and then
 *   frees them owns nothing else meanwhile.
 * - Nothing raises through libcurl or http_parser: a request's Lua functions are called protected, the
 *   pushes of their arguments included (transfer.c, run_callback); JSON is decoded in a protected call
 *   on the decoder's thread, and yajl's allocator (yajl_memory.c) unwinds to it, never returning NULL to
 *   yajl; the decoder owns every block yajl holds.
 * - So no flag that says "inside libcurl" outlives the call: client->performing, and a multi handle's
 *   m->L, which is set only around libcurl's calls; finished transfers wait on the multi's list until a
 *   perform has made the table that hands them to Lua (multi.c).
 * - A string libcurl copies (URL, method, request target, proxy, CA file) may fail to copy: the result
 *   is checked, and a request libcurl did not take whole does not go out. A memory failure is reported
 *   as one (CURLE_OUT_OF_MEMORY, "out of memory ..."), never as a bad body, a file error or a refusal. */
#include <curl/curl.h>

#include "client.h"
#include "clock.h"
#include "compat.h"
#include "errors.h"
#include "exchange.h"
#include "headers.h"
#include "json_decode.h"
#include "multi.h"
#include "perform.h"
#include "query.h"
#include "terminal.h"
#include "tokenseal.h"
#include "tokenshare.h"

/* core.client(options): client.c's constructor under the module's name. */
static int core_client(lua_State *L) {
    return client_lua_new(L);
}

/* The one symbol the module exports: the Makefile builds with -fvisibility=hidden, so the core's own
 * names (buffer_append, headers_parse, ...) never meet a host's or another module's, and its calls
 * between files bind directly. */
__attribute__((visibility("default"))) int luaopen_falcon_core(lua_State *L) {
    static int curl_ready = 0;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return errors_raise(L, "core", "libcurl failed to start");
        curl_ready = 1;
    }
    /* Metatables first, in this order: perform, exchange, tokenshare and tokenseal add methods to the
     * client's __index table, which client_register makes. Registering is idempotent per state (each
     * luaL_newmetatable makes its table once), so a second require in the same state is harmless. */
    errors_register(L);
    headers_register(L);
    query_register(L);
    client_register(L);
    perform_register(L);
    exchange_register(L);
    tokenshare_register(L);
    tokenseal_register(L);
    multi_register(L);
    static const luaL_Reg functions[] = {{"client", core_client}, {"multi", multi_lua_new}, {"encode_query", query_lua_encode},
                                              {"transport_error", errors_lua_transport_error}, {NULL, NULL}};
    luaL_newlib(L, functions);
    perform_push(L);
    lua_setfield(L, -2, "perform");
    clock_register(L, lua_gettop(L));
    json_register(L, lua_gettop(L));
    terminal_register(L, lua_gettop(L));
    lua_pushliteral(L, FALCONLUA_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, curl_version());
    lua_setfield(L, -2, "curl_version");
    return 1;
}
