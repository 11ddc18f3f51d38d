/* errors.c: structured transport errors. Messages name what failed, never a secret. */
#include <string.h>

#include "compat.h"
#include "errors.h"

#define ERROR_MT "falcon.core.error"

static const char *kind_of(CURLcode code) {
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST: return "dns";
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_PROXY: return "proxy";
    case CURLE_COULDNT_CONNECT: return "connect";
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED: return "tls";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING: return "connection";
    case CURLE_ABORTED_BY_CALLBACK: return "aborted";
    case CURLE_FILESIZE_EXCEEDED: return "too_large";
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
    case CURLE_FILE_COULDNT_READ_FILE: return "file";
    default: return "transport";
    }
}

int errors_push(lua_State *L, const char *kind, const char *message, int reached_server) {
    lua_pushnil(L);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    lua_pushboolean(L, reached_server);
    lua_setfield(L, -2, "reached_server");
    luaL_setmetatable(L, ERROR_MT);
    return 2;
}

int errors_push_curl(lua_State *L, CURLcode code, const char *detail, const char *method, const char *path,
                     int reached_server) {
    const char *kind = kind_of(code);
    const char *what = detail != NULL && detail[0] != '\0' ? detail : curl_easy_strerror(code);
    if (code == CURLE_PEER_FAILED_VERIFICATION)
        lua_pushfstring(L, "tls error: certificate verification failed: %s (%s %s); if the server's CA is private, "
                           "give ca_bundle = <CA file>", what, method, path);
    else
        lua_pushfstring(L, "%s error: %s (%s %s)", kind, what, method, path);
    const char *message = lua_tostring(L, -1);
    errors_push(L, kind, message, reached_server);
    lua_pushinteger(L, (lua_Integer)code);
    lua_setfield(L, -2, "curl_code");
    lua_remove(L, -3); /* the formatted message */
    return 2;
}

static int error_tostring(lua_State *L) {
    lua_getfield(L, 1, "message");
    return 1;
}

void errors_register(lua_State *L) {
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}
