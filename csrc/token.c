/* token.c: a small, bounds-checked scanner for the token endpoint's JSON object. */
#include <stdlib.h>
#include <ctype.h>
#include <string.h>

#include "buffer.h"
#include "secret.h"
#include "token.h"

#define MAX_DEPTH 64

typedef struct {
    const char *p;
    const char *end;
} scanner;

static void skip_ws(scanner *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(scanner *s, unsigned *out) {
    if (s->end - s->p < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(s->p[i]);
        if (h < 0) return 0;
        v = v * 16 + (unsigned)h;
    }
    s->p += 4;
    *out = v;
    return 1;
}

static void append_utf8(buffer *b, unsigned cp) {
    char u[4];
    if (cp < 0x80) {
        buffer_append_char(b, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        buffer_append(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        buffer_append(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        buffer_append(b, u, 4);
    }
}

/* Reads a string after its opening quote; out may be NULL to skip. */
static int read_string(scanner *s, buffer *out) {
    while (s->p < s->end) {
        char c = *s->p++;
        if (c == '"') return 1;
        if ((unsigned char)c < 0x20) return 0;
        if (c != '\\') {
            if (out) buffer_append_char(out, c);
            continue;
        }
        if (s->p >= s->end) return 0;
        char e = *s->p++;
        unsigned cp;
        switch (e) {
        case '"': case '\\': case '/': if (out) buffer_append_char(out, e); break;
        case 'b': if (out) buffer_append_char(out, '\b'); break;
        case 'f': if (out) buffer_append_char(out, '\f'); break;
        case 'n': if (out) buffer_append_char(out, '\n'); break;
        case 'r': if (out) buffer_append_char(out, '\r'); break;
        case 't': if (out) buffer_append_char(out, '\t'); break;
        case 'u':
            if (!read_hex4(s, &cp)) return 0;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair must follow */
                unsigned low;
                if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u') return 0;
                s->p += 2;
                if (!read_hex4(s, &low) || low < 0xDC00 || low > 0xDFFF) return 0;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return 0;
            }
            if (out) append_utf8(out, cp);
            break;
        default:
            return 0;
        }
    }
    return 0;
}

static int read_number(scanner *s, double *out) {
    const char *start = s->p;
    if (s->p < s->end && *s->p == '-') s->p++;
    while (s->p < s->end && ((*s->p >= '0' && *s->p <= '9') || *s->p == '.' || *s->p == 'e' ||
                             *s->p == 'E' || *s->p == '+' || *s->p == '-'))
        s->p++;
    size_t n = (size_t)(s->p - start);
    if (n == 0 || n > 63) return 0;
    char tmp[64];
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    char *endp;
    double v = strtod(tmp, &endp);
    if (endp != tmp + n) return 0;
    if (out) *out = v;
    return 1;
}

static int skip_value(scanner *s, int depth);

static int skip_container(scanner *s, char close, int depth) {
    if (depth > MAX_DEPTH) return 0;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 1;
    }
    for (;;) {
        skip_ws(s);
        if (close == '}') {
            if (s->p >= s->end || *s->p++ != '"' || !read_string(s, NULL)) return 0;
            skip_ws(s);
            if (s->p >= s->end || *s->p++ != ':') return 0;
        }
        if (!skip_value(s, depth + 1)) return 0;
        skip_ws(s);
        if (s->p >= s->end) return 0;
        char c = *s->p++;
        if (c == close) return 1;
        if (c != ',') return 0;
    }
}

static int match_literal(scanner *s, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0) return 0;
    s->p += n;
    return 1;
}

static int skip_value(scanner *s, int depth) {
    skip_ws(s);
    if (s->p >= s->end) return 0;
    switch (*s->p) {
    case '"': s->p++; return read_string(s, NULL);
    case '{': s->p++; return skip_container(s, '}', depth);
    case '[': s->p++; return skip_container(s, ']', depth);
    case 't': return match_literal(s, "true");
    case 'f': return match_literal(s, "false");
    case 'n': return match_literal(s, "null");
    default: return read_number(s, NULL);
    }
}

/* RFC 6750's b64token: the token becomes a header line, so nothing else may pass (CR/LF would inject
 * headers). Bounded like a header line. */
int token_usable(const char *t, size_t len) {
    if (len == 0 || len > TOKEN_MAX_LEN) return 0;
    size_t i = 0;
    while (i < len && t[i] != 0 && (isalnum((unsigned char)t[i]) || strchr("-._~+/", t[i]) != NULL)) i++;
    if (i == 0) return 0;
    while (i < len && t[i] == '=') i++;
    return i == len;
}

int token_parse(const char *json, size_t len, token_response *out) {
    scanner s = {json, json + len};
    buffer token, key;
    buffer_init(&token);
    buffer_init(&key);
    double expires_in = -1;
    int ok = 0, have_token = 0;

    skip_ws(&s);
    if (s.p >= s.end || *s.p++ != '{') goto done;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}') goto done;
    for (;;) {
        skip_ws(&s);
        buffer_reset(&key);
        if (s.p >= s.end || *s.p++ != '"' || !read_string(&s, &key)) goto done;
        skip_ws(&s);
        if (s.p >= s.end || *s.p++ != ':') goto done;
        skip_ws(&s);
        const char *k = buffer_cstr(&key);
        if (k == NULL) goto done;
        if (strcmp(k, "access_token") == 0 && s.p < s.end && *s.p == '"') {
            s.p++;
            buffer_reset(&token);
            if (!read_string(&s, &token)) goto done;
            have_token = token_usable(token.data, token.len);
        } else if (strcmp(k, "expires_in") == 0 && s.p < s.end && *s.p != '"' && *s.p != '{' &&
                   *s.p != '[') {
            if (!read_number(&s, &expires_in)) goto done;
        } else if (!skip_value(&s, 1)) {
            goto done;
        }
        skip_ws(&s);
        if (s.p >= s.end) goto done;
        char c = *s.p++;
        if (c == '}') break;
        if (c != ',') goto done;
    }
    if (have_token && !token.failed && buffer_cstr(&token) != NULL) {
        out->access_token = secret_dup(token.data, token.len);
        out->expires_in = expires_in;
        ok = out->access_token != NULL;
    }
done:
    out->no_memory = !ok && (token.failed || key.failed || (have_token && out->access_token == NULL));
    buffer_wipe_free(&token);
    buffer_free(&key);
    return ok;
}
