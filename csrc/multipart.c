/* multipart.c: multipart/form-data as a byte stream with a length known up front. Parts:
 * {name=, value=} | {name=, data=, filename=, content_type=} | {name=, path=, filename=, content_type=}.
 * The layout is libcurl's (delimiter, Content-Disposition, Content-Type for files, CRLF framing). A raw
 * multipart (multipart_file_body) has no framing at all: one file's bytes are the body. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "mime.h"
#include "multipart.h"

/* A boundary must not occur in any part's content. It is 24 dashes and 24 hex digits of /dev/urandom:
 * a file that happens to hold it is a 2^-96 chance, and content chosen to hold it would need the bytes
 * before they are drawn. The dashes make it look like libcurl's own, which servers have seen before. */
static void random_boundary(char *out, size_t size) {
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[12];
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, bytes, sizeof bytes);
        got = n > 0 ? (size_t)n : 0;
        close(fd);
    }
    /* Without /dev/urandom (a chroot, a descriptor limit): a mix of time, pid and address, good enough
     * since only uniqueness within one body matters, and the bound on names keeps them out of it anyway. */
    unsigned long mix = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16) ^ (unsigned long)(size_t)out;
    for (size_t i = got; i < sizeof bytes; i++) {
        mix = mix * 6364136223846793005UL + 1442695040888963407UL;
        bytes[i] = (unsigned char)(mix >> 33);
    }
    size_t pos = 0;
    for (int i = 0; i < 24 && pos + 1 < size; i++) out[pos++] = '-';
    for (size_t i = 0; i < sizeof bytes && pos + 2 < size; i++) {
        out[pos++] = hex[bytes[i] >> 4];
        out[pos++] = hex[bytes[i] & 15];
    }
    out[pos] = '\0';
}

/* An empty form with a fresh boundary; allocates nothing (the parts array grows on the first add). */
void multipart_init(multipart *m) {
    memset(m, 0, sizeof *m);
    buffer_init(&m->tail);
    random_boundary(m->boundary, sizeof m->boundary);
}

/* The name a file part is sent under when the caller gives none: the path's last component, as libcurl
 * and FalconPy name it (never the directories, which are the caller's business). */
static const char *basename_of(const char *path, size_t *len) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    *len = strlen(base);
    return base;
}

/* Room for one more part; 0 (and m->failed) when memory ran out. */
static int reserve_part(multipart *m) {
    if (m->count < m->cap) return 1;
    size_t cap = m->cap ? m->cap * 2 : 4;
    multipart_part *grown = realloc(m->parts, cap * sizeof *grown);
    if (grown == NULL) {
        m->failed = 1;
        return 0;
    }
    m->parts = grown;
    m->cap = cap;
    return 1;
}

/* The part's head is built now, in full, so that the body's length is known before it is sent
 * (Content-Length, never chunked: some proxies and servers refuse chunked uploads). The CRLF before a
 * delimiter belongs to the delimiter (RFC 2046), so the first part has none. Memory failures show in
 * head->failed. */
static void write_part_head(const multipart *m, buffer *head, const char *name, size_t name_len,
                            const char *filename, size_t filename_len, const char *content_type, size_t type_len) {
    if (m->count > 0) buffer_append_str(head, "\r\n");
    buffer_append_str(head, "--");
    buffer_append_str(head, m->boundary);
    buffer_append_str(head, "\r\nContent-Disposition: form-data; name=\"");
    buffer_append(head, name, name_len);
    buffer_append_char(head, '"');
    if (filename != NULL) {
        buffer_append_str(head, "; filename=\"");
        buffer_append(head, filename, filename_len);
        buffer_append_char(head, '"');
    }
    buffer_append_str(head, "\r\n");
    if (content_type != NULL) {
        buffer_append_str(head, "Content-Type: ");
        buffer_append(head, content_type, type_len);
        buffer_append_str(head, "\r\n");
    }
    buffer_append_str(head, "\r\n");
}

int multipart_add(multipart *m, const char *name, size_t name_len, const char *filename, size_t filename_len,
                  const char *content_type, size_t type_len, const char *data, size_t data_len, const char *path,
                  long long file_size) {
    if (m->failed) return 0;
    if (path != NULL && filename == NULL) filename = basename_of(path, &filename_len);
    /* Bytes without a filename or a type are a plain form field; with either they are a file part,
     * which servers only take as a file when it has a filename, so one is made up ("file"). */
    if (data != NULL && path == NULL && filename == NULL && content_type == NULL) {
        /* a plain field ({name, value}) */
    } else if (filename == NULL) {
        filename = "file";
        filename_len = 4;
    }
    if (filename != NULL && content_type == NULL) {
        content_type = "application/octet-stream";
        type_len = strlen(content_type);
    }
    /* Names go inside part headers; a raw body has none. */
    int names_ok = m->raw || (mime_name_valid(name, name_len) &&
                              (filename == NULL || mime_name_valid(filename, filename_len)) &&
                              (content_type == NULL || mime_name_valid(content_type, type_len)));
    /* file_size < 0: the file could not be stat'ed (multipart_from_lua), so its length is unknown. */
    if (!names_ok || file_size < 0) return 0;
    if (!reserve_part(m)) return 0;
    multipart_part *p = &m->parts[m->count];
    memset(p, 0, sizeof *p);
    buffer_init(&p->head);
    if (!m->raw) write_part_head(m, &p->head, name, name_len, filename, filename_len, content_type, type_len);
    /* A path is copied: the request's anchor keeps the Lua string too, but the part is read from C
     * callbacks long after Lua may have moved on. Data is borrowed (the anchor keeps it). */
    if (path != NULL) {
        p->path = strdup(path);
        p->file_size = file_size;
    } else {
        p->data = data;
        p->data_len = data_len;
    }
    /* Out of memory: the part is undone and not counted, and m->failed makes the whole form fail. */
    if (p->head.failed || (path != NULL && p->path == NULL)) {
        buffer_free(&p->head);
        free(p->path);
        m->failed = 1;
        return 0;
    }
    m->count++;
    return 1;
}

/* The closing delimiter, then the exact length: part heads, contents (a file at the size stat'ed when
 * the form was built; read_file_part fails the send if it is not that size any more) and the tail. */
int multipart_close(multipart *m) {
    buffer_reset(&m->tail);
    if (!m->raw) {
        if (m->count > 0) buffer_append_str(&m->tail, "\r\n");
        buffer_append_str(&m->tail, "--");
        buffer_append_str(&m->tail, m->boundary);
        buffer_append_str(&m->tail, "--\r\n");
    }
    if (m->tail.failed) m->failed = 1;
    long long length = (long long)m->tail.len;
    for (size_t i = 0; i < m->count; i++)
        length += (long long)m->parts[i].head.len +
                  (m->parts[i].path != NULL ? m->parts[i].file_size : (long long)m->parts[i].data_len);
    m->length = length;
    multipart_rewind(m);
    return !m->failed;
}

/* The request's Content-Type: the boundary must be the one the body uses, so it comes from the form
 * itself, never from a caller's content_type (request.c replaces that). */
int multipart_content_type(const multipart *m, buffer *out) {
    buffer_append_str(out, "multipart/form-data; boundary=");
    return buffer_append_str(out, m->boundary);
}

/* Closes a file part left open: the next read opens it again from its first byte. */
void multipart_rewind(multipart *m) {
    if (m->file != NULL) fclose(m->file);
    m->file = NULL;
    m->part = 0;
    m->stage = m->count > 0 ? 0 : 2;
    m->offset = 0;
    m->file_done = 0;
}

/* Copies what fits of src[*offset..len) into out and advances *offset; returns the bytes copied. */
static size_t copy_from(const char *src, size_t len, size_t *offset, char *out, size_t n) {
    size_t left = len - *offset, take = left < n ? left : n;
    if (take > 0) memcpy(out, src + *offset, take);
    *offset += take;
    return take;
}

/* Records why a file part failed (the first reason stands) and returns MULTIPART_ERROR, which each
 * driver turns into a "file" error naming the path. errno is 0 when the file ended before its announced
 * size: it shrank while being sent. The detail is malloc'd: it outlives the read, until multipart_free. */
static size_t fail_read(multipart *m, const char *what, const char *path) {
    m->read_failed = 1;
    if (m->detail == NULL) {
        const char *reason = errno != 0 ? strerror(errno) : "size changed while sending";
        size_t n = strlen(what) + strlen(path) + strlen(reason) + 8;
        m->detail = malloc(n);
        if (m->detail != NULL) snprintf(m->detail, n, "%s '%s': %s", what, path, reason);
    }
    return MULTIPART_ERROR;
}

/* Reads file content; moves to the next part at the exact size announced in the length. The file is
 * opened at its first read, not when the form is built, so a form of many files holds one descriptor at
 * a time. Bytes a file grew by are never sent: the length was announced. */
static size_t read_file_part(multipart *m, multipart_part *p, char *out, size_t n) {
    if (m->file == NULL) {
        errno = 0;
        m->file = fopen(p->path, "rb");
        if (m->file == NULL) return fail_read(m, "cannot open", p->path);
    }
    long long left = p->file_size - m->file_done;
    size_t want = (long long)n < left ? n : (size_t)left;
    errno = 0;
    size_t got = want > 0 ? fread(out, 1, want, m->file) : 0;
    if (got == 0 && want > 0) return fail_read(m, "cannot read", p->path);
    m->file_done += (long long)got;
    return got;
}

/* Fills out as far as it can across parts (libcurl asks for its upload buffer's worth and sends what it
 * gets), walking each part's stages: its head, its content (memory or file), then the form's tail. */
size_t multipart_read(multipart *m, char *out, size_t n) {
    size_t total = 0;
    /* m->offset is the position within the current head, in-memory content or tail; a file part keeps
     * its own count (file_done), since its bytes come from the FILE's position. */
    while (total < n && m->stage != 3) {
        char *dst = out + total;
        size_t room = n - total, got;
        if (m->stage == 2) {
            got = copy_from(m->tail.data, m->tail.len, &m->offset, dst, room);
            if (m->offset == m->tail.len) m->stage = 3;
        } else {
            multipart_part *p = &m->parts[m->part];
            int part_done = 0;
            if (m->stage == 0) {
                got = copy_from(p->head.data, p->head.len, &m->offset, dst, room);
                if (m->offset == p->head.len) m->stage = 1, m->offset = 0, m->file_done = 0;
            } else if (p->path != NULL) {
                got = read_file_part(m, p, dst, room);
                if (got == MULTIPART_ERROR) return got;
                if (m->file_done == p->file_size) {
                    fclose(m->file);
                    m->file = NULL;
                    part_done = 1;
                }
            } else {
                got = copy_from(p->data, p->data_len, &m->offset, dst, room);
                part_done = m->offset == p->data_len;
            }
            if (part_done) {
                m->offset = 0;
                m->part++;
                m->stage = m->part == m->count ? 2 : 0;
            }
        }
        total += got;
    }
    return total;
}

/* Frees what the form owns (the parts' heads and paths, the tail, the failure detail, an open file),
 * not the borrowed data; m can be freed again afterwards. */
void multipart_free(multipart *m) {
    if (m->file != NULL) fclose(m->file);
    m->file = NULL;
    for (size_t i = 0; i < m->count; i++) {
        buffer_free(&m->parts[i].head);
        free(m->parts[i].path);
    }
    free(m->parts);
    m->parts = NULL;
    m->count = m->cap = 0;
    buffer_free(&m->tail);
    free(m->detail);
    m->detail = NULL;
}

/* The string is also put in the anchor table: the part table is the caller's and may change while the
 * form is being sent, the anchor is the request's own. Anchoring allocates (a table slot), so this may
 * raise a memory error: the form is already the caller's to free by then (multipart_from_lua). */
static const char *field(lua_State *L, int part, const char *key, size_t *len, int anchor) {
    lua_getfield(L, part, key);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
    if (s == NULL) {
        *len = 0;
        lua_pop(L, 1);
    } else {
        lua_rawseti(L, anchor, (int)falcon_rawlen(L, anchor) + 1);
    }
    return s;
}

/* The form is handed to *form before anything else is allocated, so that whatever raises after this
 * (anchoring a string allocates) leaves it to the caller's cleanup. */
int multipart_from_lua(lua_State *L, int idx, int anchor, multipart **form) {
    multipart *m = malloc(sizeof *m);
    if (m == NULL) return 0;
    multipart_init(m);
    *form = m;
    size_t count = falcon_rawlen(L, idx);
    int ok = 1;
    for (size_t i = 1; ok && i <= count; i++) {
        lua_rawgeti(L, idx, (int)i);
        int part = lua_gettop(L);
        size_t name_len, filename_len, type_len, value_len, data_len, path_len;
        const char *name = field(L, part, "name", &name_len, anchor);
        const char *filename = field(L, part, "filename", &filename_len, anchor);
        const char *type = field(L, part, "content_type", &type_len, anchor);
        const char *value = field(L, part, "value", &value_len, anchor);
        const char *data = field(L, part, "data", &data_len, anchor);
        const char *path = field(L, part, "path", &path_len, anchor);
        /* The size is taken now and announced; a file that changes before it is read fails the send. */
        long long size = 0;
        struct stat st;
        if (path != NULL) size = stat(path, &st) == 0 ? (long long)st.st_size : -1;
        if (value != NULL) ok = multipart_add(m, name, name_len, NULL, 0, NULL, 0, value, value_len, NULL, 0);
        else ok = multipart_add(m, name, name_len, filename, filename_len, type, type_len, data, data_len, path, size);
        lua_pop(L, 1);
    }
    /* mime_check ran first: a refusal here is memory (or a file that vanished in between). */
    return ok && multipart_close(m);
}

/* The part's name is never sent (a raw form has no headers); "body" only satisfies multipart_add. */
multipart *multipart_file_body(const char *path, long long file_size) {
    multipart *m = malloc(sizeof *m);
    if (m == NULL) return NULL;
    multipart_init(m);
    m->raw = 1;
    if (!multipart_add(m, "body", 4, NULL, 0, NULL, 0, NULL, 0, path, file_size) || !multipart_close(m)) {
        multipart_destroy(m);
        return NULL;
    }
    return m;
}

/* For a form owned by pointer (a request's rq->form): frees it and the struct; NULL is fine. */
void multipart_destroy(multipart *m) {
    if (m == NULL) return;
    multipart_free(m);
    free(m);
}
