/* hostile_server.c: a scripted, hostile HTTP/1.1 server for the specs, so that the client is tried for
 * real against servers that drop, stray, bomb and stall (issue 13). One process serves every connection
 * from one poll loop; requests on a connection are read one after another (head, then its Content-Length
 * body; persistent by default, `Connection: close` honoured). It exits once OWNER_PID (the test process)
 * is gone. The spec stops its process group.
 *
 *   hostile_server PORTFILE DIR OWNER_PID     writes "PORT PGID" to PORTFILE once it listens
 *
 * DIR/plan holds one action per line; each request takes the next line (a cursor over the file, so lines
 * appended later are seen); once the plan is exhausted the action is `ok`. The action is taken when the
 * request head is complete, and performed once its body is read. Every request the server *applies* is
 * appended to DIR/applied.log as "METHOD PATH CONNECTION" (connections are numbered from 1 as accepted),
 * before any answer is written. The actions:
 *   ok                 200, {"meta":{},"resources":["ok"],"errors":[]} with Content-Length; keeps the connection
 *   json BODY...       200 with BODY (the rest of the line) as the JSON body
 *   token BODY...      201 with BODY, byte for byte as in the plan (the token endpoint's answer)
 *   status N           status N with a small JSON error envelope
 *   headers H: V|H: V  like ok, plus these raw header lines (split on '|'), written exactly as given
 *   drop               applied, then the connection is closed without an answer
 *   drop-unapplied     not applied: closed as soon as the head is read, before any answer
 *   close-after        like ok (no `Connection: close`), then the connection is closed
 *   idle-close MS      like ok, then the connection is closed after MS ms without a new request
 *   stray              204, then 50 ms later a complete unrequested 200 ({"stray":true}) on the same connection
 *   stray-same         the same two answers in a single write
 *   gzip-ok            200, a complete gzip-encoded JSON document
 *   gzip-truncated     200, chunked (framing complete), Content-Encoding gzip, the gzip stream cut in half
 *   gzip-truncated-cl  the same cut stream, with a Content-Length of the bytes sent
 *   gzip-bomb MB       200, `Content-Encoding: gzip, gzip`: a JSON string of MB MiB of spaces, gzipped twice
 *   gzip-bomb1 MB      the same with one gzip layer
 *   endless            200 chunked, 64 KiB chunks for ever, until the client closes
 *   slow-body MS       200 with Content-Length 100, one byte every MS ms
 *   bytes FILE         the raw contents of DIR/FILE as the whole answer (anything at all); keeps reading
 * An unknown action is answered 500 with the plan line in the message, so the spec fails loudly. Actions
 * that take time (stray, slow-body, endless) hold the one loop: other connections wait meanwhile. Chunked
 * request bodies are not understood (no client under test sends one). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "announce.h"

#define HEAD_MAX 65536
#define CONN_MAX 64
#define OK_BODY "{\"meta\":{},\"resources\":[\"ok\"],\"errors\":[]}"

enum after { KEEP, CLOSE };

struct conn {
    int fd;                /* -1: free slot */
    unsigned number;       /* 1 for the first connection accepted */
    char buf[HEAD_MAX + 1];
    size_t len;
    char *action;          /* the plan line taken for the request being read, NULL between requests */
    long long body_left;   /* body bytes of that request still to read */
    int close_wanted;      /* the client said `Connection: close` (or spoke HTTP/1.0) */
    char method[16];
    char path[2048];
    long long idle_deadline; /* ms on the monotonic clock, 0: none */
};

/* A growing byte buffer for built answers and compressed bodies. */
struct bytes {
    unsigned char *data;
    size_t len, cap;
};

static pid_t owner;
static const char *dir;
static long plan_offset;
static struct conn conns[CONN_MAX];

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void bytes_add(struct bytes *b, const void *data, size_t len) {
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) cap *= 2;
        unsigned char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            perror("hostile_server");
            exit(1);
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void bytes_addf(struct bytes *b, const char *format, const char *text, size_t number) {
    char line[512];
    int n = snprintf(line, sizeof line, format, text, number);
    bytes_add(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Non-blocking sockets, so a client that stops reading never wedges the server past its owner's end. */
static int write_all(int fd, const void *data, size_t len) {
    const char *at = data;
    while (len > 0) {
        ssize_t n = write(fd, at, len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            struct pollfd p = {fd, POLLOUT, 0};
            if (kill(owner, 0) != 0) return 0;
            poll(&p, 1, 500);
            continue;
        }
        if (n <= 0) return 0;
        at += n;
        len -= (size_t)n;
    }
    return 1;
}

static char *path_in_dir(const char *name) {
    size_t size = strlen(dir) + strlen(name) + 2;
    char *path = malloc(size);
    if (path == NULL) exit(1);
    snprintf(path, size, "%s/%s", dir, name);
    return path;
}

/* The next line of DIR/plan (without its newline), or NULL once the plan is exhausted. */
static char *next_plan_line(void) {
    char *path = path_in_dir("plan");
    FILE *f = fopen(path, "rb");
    free(path);
    if (f == NULL) return NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = fseek(f, plan_offset, SEEK_SET) == 0 ? getline(&line, &cap, f) : -1;
    fclose(f);
    if (n <= 0) {
        free(line);
        return NULL;
    }
    plan_offset += (long)n;
    if (line[n - 1] == '\n') line[n - 1] = '\0';
    return line;
}

static void log_applied(const struct conn *c) {
    char line[sizeof c->method + sizeof c->path + 32];
    int n = snprintf(line, sizeof line, "%s %s %u\n", c->method, c->path, c->number);
    char *path = path_in_dir("applied.log");
    int log = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    free(path);
    if (log < 0) return;
    write_all(log, line, (size_t)n); /* one write per line: lines never interleave */
    close(log);
}

/* A complete answer with a Content-Length; `extra` is raw header lines, each ending in CRLF. */
static int respond(int fd, const char *status, const char *extra, const void *body, size_t body_len) {
    struct bytes out = {0};
    bytes_addf(&out, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n", status, body_len);
    if (extra) bytes_add(&out, extra, strlen(extra));
    bytes_add(&out, "\r\n", 2);
    bytes_add(&out, body, body_len);
    int ok = write_all(fd, out.data, out.len);
    free(out.data);
    return ok;
}

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

/* ok, json, token, status, headers, close-after, idle-close: plain answers. */
static enum after plain_answer(struct conn *c, const char *action, const char *arg) {
    if (strcmp(action, "json") == 0) return respond(c->fd, "200 OK", NULL, arg, strlen(arg)) ? KEEP : CLOSE;
    if (strcmp(action, "token") == 0) return respond(c->fd, "201 Created", NULL, arg, strlen(arg)) ? KEEP : CLOSE;
    if (strcmp(action, "status") == 0) {
        int status = atoi(arg);
        if (status < 100 || status > 999) status = 500;
        char line[64], body[256];
        snprintf(line, sizeof line, "%d %s", status, reason(status));
        int n = snprintf(body, sizeof body,
                         "{\"meta\":{},\"resources\":[],\"errors\":[{\"code\":%d,\"message\":\"%s\"}]}", status,
                         reason(status));
        return respond(c->fd, line, NULL, body, (size_t)n) ? KEEP : CLOSE;
    }
    struct bytes extra = {0};
    if (strcmp(action, "headers") == 0) {
        for (const char *line = arg; *line;) {
            size_t n = strcspn(line, "|");
            bytes_add(&extra, line, n);
            bytes_add(&extra, "\r\n", 2);
            line += n + (line[n] == '|');
        }
    }
    bytes_add(&extra, "", 1);
    int sent = respond(c->fd, "200 OK", (const char *)extra.data, OK_BODY, strlen(OK_BODY));
    free(extra.data);
    if (!sent || strcmp(action, "close-after") == 0) return CLOSE;
    if (strcmp(action, "idle-close") == 0) c->idle_deadline = now_ms() + atol(arg);
    return KEEP;
}

/* stray, stray-same: a 204, then an answer nobody asked for on the same connection. */
static enum after stray(struct conn *c, const char *action) {
    static const char no_content[] = "HTTP/1.1 204 No Content\r\n\r\n";
    static const char bogus[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n"
                                "{\"stray\":true}";
    if (strcmp(action, "stray-same") == 0) {
        struct bytes out = {0};
        bytes_add(&out, no_content, strlen(no_content));
        bytes_add(&out, bogus, strlen(bogus));
        int ok = write_all(c->fd, out.data, out.len);
        free(out.data);
        return ok ? KEEP : CLOSE;
    }
    if (!write_all(c->fd, no_content, strlen(no_content))) return CLOSE;
    sleep_ms(50);
    return write_all(c->fd, bogus, strlen(bogus)) ? KEEP : CLOSE;
}

/* Compresses `len` bytes into `out` as part of one gzip stream; `flush` is Z_NO_FLUSH or Z_FINISH. */
static void gzip_feed(z_stream *z, const void *data, size_t len, int flush, struct bytes *out) {
    unsigned char chunk[65536];
    z->next_in = (unsigned char *)data;
    z->avail_in = (uInt)len;
    do {
        z->next_out = chunk;
        z->avail_out = sizeof chunk;
        deflate(z, flush);
        bytes_add(out, chunk, sizeof chunk - z->avail_out);
    } while (z->avail_out == 0); /* room left over: all input taken (and, with Z_FINISH, the stream ended) */
}

static void gzip_start(z_stream *z, int level) {
    memset(z, 0, sizeof *z);
    if (deflateInit2(z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) exit(1); /* 15 + 16: gzip */
}

static void gzip_whole(const void *data, size_t len, struct bytes *out) {
    z_stream z;
    gzip_start(&z, 9);
    gzip_feed(&z, data, len, Z_FINISH, out);
    deflateEnd(&z);
}

/* {"pad":"<mib MiB of spaces>"}, gzipped while generated: memory stays near the compressed size. Level 1
 * is about twice as fast here as 9; the outer layer (level 9) takes back the size. */
static void gzip_spaces(long mib, struct bytes *out) {
    static char spaces[65536];
    memset(spaces, ' ', sizeof spaces);
    z_stream z;
    gzip_start(&z, 1);
    gzip_feed(&z, "{\"pad\":\"", 8, Z_NO_FLUSH, out);
    for (long i = 0; i < mib * 16; i++) gzip_feed(&z, spaces, sizeof spaces, Z_NO_FLUSH, out);
    gzip_feed(&z, "\"}", 2, Z_FINISH, out);
    deflateEnd(&z);
}

/* A valid JSON document a few KiB long, so that half its gzip stream still holds deflate data. */
static void json_document(struct bytes *doc) {
    bytes_add(doc, "{\"meta\":{},\"resources\":[", 24);
    for (int i = 0; i < 300; i++) {
        char item[32];
        int n = snprintf(item, sizeof item, "%s\"item-%d\"", i ? "," : "", i * 7919 % 100003);
        bytes_add(doc, item, (size_t)n);
    }
    bytes_add(doc, "],\"errors\":[]}", 14);
}

/* gzip-ok, gzip-truncated, gzip-truncated-cl, gzip-bomb, gzip-bomb1: compressed bodies. */
static enum after gzip_answer(struct conn *c, const char *action, const char *arg) {
    struct bytes doc = {0}, body = {0};
    const char *encoding = "Content-Encoding: gzip\r\n";
    int ok;
    if (strncmp(action, "gzip-bomb", 9) == 0) {
        gzip_spaces(atol(arg), &doc);
        if (strcmp(action, "gzip-bomb") == 0) {
            gzip_whole(doc.data, doc.len, &body);
            encoding = "Content-Encoding: gzip, gzip\r\n";
        } else {
            body = doc;
            doc = (struct bytes){0};
        }
    } else {
        json_document(&doc);
        gzip_whole(doc.data, doc.len, &body);
        if (strcmp(action, "gzip-ok") != 0) body.len /= 2;
    }
    if (strcmp(action, "gzip-truncated") == 0) {
        struct bytes out = {0};
        bytes_addf(&out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sTransfer-Encoding: chunked\r\n\r\n%zx\r\n",
                   encoding, body.len);
        bytes_add(&out, body.data, body.len);
        bytes_add(&out, "\r\n0\r\n\r\n", 7);
        ok = write_all(c->fd, out.data, out.len);
        free(out.data);
    } else {
        ok = respond(c->fd, "200 OK", encoding, body.data, body.len);
    }
    free(doc.data);
    free(body.data);
    return ok ? KEEP : CLOSE;
}

/* endless: 64 KiB chunks of a JSON string that never ends, until the client goes away. */
static enum after endless(struct conn *c) {
    static char chunk[8 + 65536 + 2];
    memcpy(chunk, "10000\r\n", 7);
    memset(chunk + 7, ' ', 65536);
    memcpy(chunk + 7 + 65536, "\r\n", 2);
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "8\r\n{\"pad\":\"\r\n";
    if (write_all(c->fd, head, strlen(head)))
        while (write_all(c->fd, chunk, 7 + 65536 + 2)) continue;
    return CLOSE;
}

/* slow-body: a 100-byte JSON document (padded with spaces), one byte every MS ms. */
static enum after slow_body(struct conn *c, const char *arg) {
    char body[101];
    snprintf(body, sizeof body, "%-100s", OK_BODY);
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    if (!write_all(c->fd, head, strlen(head))) return CLOSE;
    for (int i = 0; i < 100; i++) {
        sleep_ms(atol(arg));
        if (!write_all(c->fd, body + i, 1)) return CLOSE;
    }
    return KEEP;
}

/* bytes FILE: DIR/FILE as the whole answer. */
static enum after raw_file(struct conn *c, const char *arg) {
    char *path = path_in_dir(arg);
    FILE *f = fopen(path, "rb");
    free(path);
    if (f == NULL) return respond(c->fd, "500 Internal Server Error", NULL, "{\"bytes\":\"no such file\"}", 25) ? KEEP : CLOSE;
    char chunk[65536];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0) ok = write_all(c->fd, chunk, n);
    fclose(f);
    return ok ? KEEP : CLOSE;
}

/* Performs the plan line of a request whose head and body are read; drop-unapplied never gets here. */
static enum after perform(struct conn *c, char *line) {
    char *arg = strchr(line, ' ');
    if (arg) *arg++ = '\0';
    else arg = line + strlen(line);
    log_applied(c);
    const char *plain[] = {"ok", "json", "token", "status", "headers", "close-after", "idle-close"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        if (strcmp(line, plain[i]) == 0) return plain_answer(c, line, arg);
    if (strcmp(line, "drop") == 0) return CLOSE;
    if (strcmp(line, "stray") == 0 || strcmp(line, "stray-same") == 0) return stray(c, line);
    if (strcmp(line, "gzip-ok") == 0 || strcmp(line, "gzip-truncated") == 0 || strcmp(line, "gzip-truncated-cl") == 0 ||
        strcmp(line, "gzip-bomb") == 0 || strcmp(line, "gzip-bomb1") == 0)
        return gzip_answer(c, line, arg);
    if (strcmp(line, "endless") == 0) return endless(c);
    if (strcmp(line, "slow-body") == 0) return slow_body(c, arg);
    if (strcmp(line, "bytes") == 0) return raw_file(c, arg);
    char body[512];
    int n = snprintf(body, sizeof body, "{\"errors\":[{\"message\":\"hostile_server: unknown action %.200s %.200s\"}]}",
                     line, arg);
    respond(c->fd, "500 Internal Server Error", NULL, body, (size_t)n < sizeof body ? (size_t)n : sizeof body - 1);
    return KEEP;
}

static void close_conn(struct conn *c) {
    close(c->fd);
    free(c->action);
    c->action = NULL;
    c->fd = -1;
}

/* The value of header `name` in a head ("\r\nName: value"), or NULL. */
static const char *header(const char *head, const char *name) {
    size_t len = strlen(name);
    for (const char *at = strstr(head, "\r\n"); at; at = strstr(at + 2, "\r\n"))
        if (strncasecmp(at + 2, name, len) == 0 && at[2 + len] == ':') return at + 3 + len + strspn(at + 3 + len, " \t");
    return NULL;
}

/* A complete head is in c->buf (ending at `end`): takes its plan line; 0 when the connection is to go. */
static int begin_request(struct conn *c, char *end) {
    end[2] = '\0'; /* the head, with its last CRLF, as a string */
    char version[16] = "";
    if (sscanf(c->buf, "%15s %2047s %15s", c->method, c->path, version) != 3) return 0;
    const char *length = header(c->buf, "Content-Length");
    const char *connection = header(c->buf, "Connection");
    const char *expect = header(c->buf, "Expect");
    c->body_left = length && atoll(length) > 0 ? atoll(length) : 0;
    c->close_wanted = strcmp(version, "HTTP/1.0") == 0 || (connection && strncasecmp(connection, "close", 5) == 0);
    c->action = next_plan_line();
    if (c->action == NULL && (c->action = strdup("ok")) == NULL) exit(1);
    if (strcmp(c->action, "drop-unapplied") == 0) return 0;
    if (expect && strncasecmp(expect, "100-continue", 12) == 0) {
        static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!write_all(c->fd, go_on, strlen(go_on))) return 0;
    }
    return 1;
}

/* Reads what the connection has and serves every request completed by it. */
static void on_readable(struct conn *c) {
    ssize_t n = read(c->fd, c->buf + c->len, HEAD_MAX - c->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        close_conn(c);
        return;
    }
    c->len += (size_t)n;
    c->idle_deadline = 0;
    for (;;) {
        if (c->action == NULL) {
            c->buf[c->len] = '\0';
            char *end = strstr(c->buf, "\r\n\r\n");
            if (end == NULL) {
                if (c->len == HEAD_MAX) close_conn(c); /* a head this long is not from our client */
                return;
            }
            size_t head_len = (size_t)(end + 4 - c->buf);
            if (!begin_request(c, end)) {
                close_conn(c);
                return;
            }
            memmove(c->buf, c->buf + head_len, c->len - head_len);
            c->len -= head_len;
        }
        size_t body = c->body_left < (long long)c->len ? (size_t)c->body_left : c->len;
        memmove(c->buf, c->buf + body, c->len - body);
        c->len -= body;
        c->body_left -= (long long)body;
        if (c->body_left > 0) return;
        char *line = c->action;
        c->action = NULL;
        enum after next = perform(c, line);
        free(line);
        if (next == CLOSE || c->close_wanted) {
            close_conn(c);
            return;
        }
    }
}

static void accept_conn(int listener, unsigned *accepted) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) return;
    for (int i = 0; i < CONN_MAX; i++) {
        if (conns[i].fd >= 0) continue;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        conns[i] = (struct conn){.fd = fd, .number = ++*accepted};
        return;
    }
    close(fd); /* more connections than any spec opens */
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: hostile_server PORTFILE DIR OWNER_PID\n");
        return 2;
    }
    dir = argv[2];
    owner = (pid_t)atol(argv[3]);
    setsid(); /* its own process group: the spec stops it with one kill */
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up is a failed write, not the server's end */
    int listener = listen_and_announce("hostile_server", argv[1]);
    unsigned accepted = 0;
    for (int i = 0; i < CONN_MAX; i++) conns[i].fd = -1;
    while (kill(owner, 0) == 0) {
        struct pollfd p[CONN_MAX + 1] = {{listener, POLLIN, 0}};
        struct conn *polled[CONN_MAX + 1] = {NULL};
        nfds_t count = 1;
        long long wait = 500, now = now_ms();
        for (int i = 0; i < CONN_MAX; i++) {
            if (conns[i].fd < 0) continue;
            if (conns[i].idle_deadline && conns[i].idle_deadline <= now) {
                close_conn(&conns[i]);
                continue;
            }
            if (conns[i].idle_deadline && conns[i].idle_deadline - now < wait) wait = conns[i].idle_deadline - now;
            p[count] = (struct pollfd){conns[i].fd, POLLIN, 0};
            polled[count++] = &conns[i];
        }
        if (poll(p, count, (int)wait) <= 0) continue;
        if (p[0].revents) accept_conn(listener, &accepted);
        for (nfds_t i = 1; i < count; i++)
            if (p[i].revents && polled[i]->fd == p[i].fd) on_readable(polled[i]);
    }
    for (int i = 0; i < CONN_MAX; i++)
        if (conns[i].fd >= 0) close_conn(&conns[i]);
    close(listener);
    return 0;
}
