/* mime.c: checking multipart form parts from Lua before anything is built or sent. Parts:
 * {name=, value=} | {name=, data=, filename=, content_type=} | {name=, path=, filename=, content_type=}.
 * The body itself is encoded by multipart.c, for every driver. */
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "errors.h"
#include "mime.h"

/* A name or filename goes inside a quoted header parameter (Content-Disposition: form-data;
 * name="..."): a quote or backslash would end or escape the quoting, a control character (CR/LF above
 * all) would start a header of its own. Refused rather than escaped: RFC 7578's escaping is read
 * differently by different servers, and no Falcon operation needs such a name. */
int mime_name_valid(const char *s, size_t len) {
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') return 0;
    }
    return 1;
}

/* part[key] when it is a string, else NULL (a number is not taken for a file's bytes). */
static const char *opt_string(lua_State *L, int part, const char *key, size_t *len) {
    lua_getfield(L, part, key);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
    lua_pop(L, 1); /* the string stays alive: the part table holds it */
    return s;
}

/* Checks part[key]: a string when present (required: always). name_rules: a header parameter's rules
 * (mime_name_valid). Other strings may hold any byte when they are content (data, value) but no NUL when
 * they are handed to C as a C string (a path). Raises naming the part and the key. */
static void check_string_field(lua_State *L, int part, int i, const char *key, int required, int name_rules,
                               const char *where) {
    lua_getfield(L, part, key);
    int t = lua_type(L, -1);
    if (t == LUA_TNIL && !required) {
        lua_pop(L, 1);
        return;
    }
    if (t != LUA_TSTRING)
        errors_raise(L, where, "bad form part #%d: '%s' (string expected, got %s)", i, key, luaL_typename(L, -1));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (name_rules && !mime_name_valid(s, len))
        errors_raise(L, where, "bad form part #%d: '%s' (non-empty, without control characters, quotes or "
                      "backslashes expected)", i, key);
    if (!name_rules && strlen(s) != len && strcmp(key, "data") != 0 && strcmp(key, "value") != 0)
        errors_raise(L, where, "bad form part #%d: '%s' (contains a NUL byte)", i, key);
    lua_pop(L, 1);
}

/* Everything a form can get wrong is found here, before multipart.c allocates anything or a byte is
 * sent: a half-sent upload cannot be taken back. The file is checked too (it exists, is a regular file,
 * is readable), so that a typo in a path is a clear error now rather than a failed transfer later;
 * multipart.c still handles a file that changes or vanishes in between. */
void mime_check(lua_State *L, int idx, const char *where) {
    size_t count = falcon_rawlen(L, idx);
    if (count == 0) errors_raise(L, where, "bad field 'form' (at least one part expected)");
    for (size_t n = 1; n <= count; n++) {
        int i = (int)n;
        lua_rawgeti(L, idx, i);
        int part = lua_gettop(L);
        if (!lua_istable(L, part)) errors_raise(L, where, "bad form part #%d (table expected, got %s)", i, luaL_typename(L, part));
        check_string_field(L, part, i, "name", 1, 1, where);
        check_string_field(L, part, i, "filename", 0, 1, where);
        check_string_field(L, part, i, "content_type", 0, 1, where);
        size_t len;
        /* A part's content has one source: two would leave it to the encoder which one wins. */
        int sources = (opt_string(L, part, "value", &len) != NULL) + (opt_string(L, part, "data", &len) != NULL);
        const char *path = opt_string(L, part, "path", &len);
        sources += path != NULL;
        if (sources != 1)
            errors_raise(L, where, "bad form part #%d (exactly one of 'value', 'data' or 'path' expected, as a string)", i);
        if (path != NULL) {
            struct stat st;
            if (strlen(path) != len) errors_raise(L, where, "bad form part #%d: 'path' (contains a NUL byte)", i);
            if (stat(path, &st) != 0) errors_raise(L, where, "bad form part #%d: 'path' (no such file: %s)", i, path);
            /* A directory or a FIFO has no length to announce, and a device could be read for ever. */
            if (!S_ISREG(st.st_mode)) errors_raise(L, where, "bad form part #%d: 'path' (not a regular file: %s)", i, path);
            /* access() checks the real uid's rights, which for a setuid program differ from what
             * open will be allowed; the SDK is not setuid, and the open in multipart.c decides anyway. */
            if (access(path, R_OK) != 0) errors_raise(L, where, "bad form part #%d: 'path' (not readable: %s)", i, path);
        }
        lua_pop(L, 1);
    }
}
