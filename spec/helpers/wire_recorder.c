/* wire_recorder.c: an HTTP/1.1 server for the specs that records every request exactly as it arrived (issue
 * 24: the wire of every operation). One process serves every connection from one poll loop; requests on a
 * connection are read one after another (head, then its Content-Length body), persistent unless the client
 * says `Connection: close`. It exits once OWNER_PID (the test process) is gone.
 *
 *   wire_recorder PORTFILE DIR OWNER_PID     writes "PORT PGID" to PORTFILE once it listens
 *
 * Each request is appended to DIR/wire.log, whole, before it is answered:
 *   "REQUEST <seq> <connection> <head bytes> <body bytes>\n" <head, up to and with the blank line> <body> "\n"
 * Answers: POST /oauth2/token gets 201 and a token; everything else 200 {"meta":{},"resources":[],"errors":[]}.
 * A request with Transfer-Encoding (no client under test sends one) is recorded with an empty body and
 * answered 501, and its connection closed: the spec sees the header and fails. */
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
#include <unistd.h>

#include "announce.h"

#define CONN_MAX 64
#define HEAD_MAX 65536
#define BODY_MAX (64LL << 20)
#define API_BODY "{\"meta\":{},\"resources\":[],\"errors\":[]}"
#define TOKEN_BODY "{\"access_token\":\"wire-recorder-token\",\"expires_in\":1799,\"token_type\":\"bearer\"}"

struct conn {
    int fd;            /* -1: free slot */
    unsigned number;   /* 1 for the first connection accepted */
    char *buf;         /* the request being read: head, then body */
    size_t len, cap;
    size_t head_len;   /* 0 until the blank line has arrived */
    long long body_len;
};

static struct conn conns[CONN_MAX];
static int log_fd = -1;
static unsigned long sequence;

static void close_conn(struct conn *c) {
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        data += n;
        len -= (size_t)n;
    }
    return 1;
}

/* The value of header `name` in the head (case-insensitive), or NULL; *len is its length. */
static const char *header_value(const char *head, size_t head_len, const char *name, size_t *len) {
    size_t name_len = strlen(name);
    const char *line = memchr(head, '\n', head_len);
    while (line != NULL && (size_t)(line + 1 - head) < head_len) {
        line++;
        const char *end = memchr(line, '\n', head_len - (size_t)(line - head));
        if (end == NULL) return NULL;
        if ((size_t)(end - line) > name_len && strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            const char *v = line + name_len + 1;
            while (v < end && (*v == ' ' || *v == '\t')) v++;
            const char *stop = end;
            while (stop > v && (stop[-1] == '\r' || stop[-1] == ' ')) stop--;
            *len = (size_t)(stop - v);
            return v;
        }
        line = end;
    }
    return NULL;
}

static void record(struct conn *c, size_t body_len) {
    char line[128];
    int n = snprintf(line, sizeof line, "REQUEST %lu %u %zu %zu\n", ++sequence, c->number, c->head_len, body_len);
    /* One write per record (O_APPEND): a reader sees whole records or none of a record's prefix line. */
    size_t total = (size_t)n + c->head_len + body_len + 1;
    char *out = malloc(total);
    if (out == NULL) exit(3);
    memcpy(out, line, (size_t)n);
    memcpy(out + n, c->buf, c->head_len + body_len);
    out[total - 1] = '\n';
    if (!write_all(log_fd, out, total)) exit(3);
    free(out);
}

static void answer(struct conn *c, int status, const char *reason, const char *body, int head_only, int close_after) {
    char out[1024];
    size_t body_len = strlen(body);
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "X-Wire-Sequence: %lu\r\n%s\r\n%s",
                     status, reason, body_len, sequence, close_after ? "Connection: close\r\n" : "",
                     head_only ? "" : body);
    if (!write_all(c->fd, out, (size_t)n) || close_after) close_conn(c);
}

/* A whole request is in c->buf: record it, answer it, keep what follows it. */
static void serve(struct conn *c) {
    size_t used = c->head_len + (size_t)c->body_len;
    record(c, (size_t)c->body_len);
    size_t v_len = 0;
    const char *v = header_value(c->buf, c->head_len, "Connection", &v_len);
    int close_after = v != NULL && v_len == 5 && strncasecmp(v, "close", 5) == 0;
    int head_only = strncmp(c->buf, "HEAD ", 5) == 0;
    int token = strncmp(c->buf, "POST /oauth2/token ", 19) == 0 || strncmp(c->buf, "POST /oauth2/token?", 19) == 0;
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    c->head_len = 0;
    c->body_len = 0;
    if (token) answer(c, 201, "Created", TOKEN_BODY, 0, close_after);
    else answer(c, 200, "OK", API_BODY, head_only, close_after);
}

/* Parses what has arrived; serves every complete request. Returns 0 when the connection was closed. */
static int advance(struct conn *c) {
    for (;;) {
        if (c->head_len == 0) {
            char *end = NULL;
            for (size_t i = 0; i + 3 < c->len; i++)
                if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) {
                    end = c->buf + i + 4;
                    break;
                }
            if (end == NULL) {
                if (c->len > HEAD_MAX) {
                    close_conn(c);
                    return 0;
                }
                return 1;
            }
            c->head_len = (size_t)(end - c->buf);
            size_t len = 0;
            const char *te = header_value(c->buf, c->head_len, "Transfer-Encoding", &len);
            if (te != NULL) {
                record(c, 0);
                answer(c, 501, "Not Implemented", API_BODY, 0, 1);
                return 0;
            }
            const char *cl = header_value(c->buf, c->head_len, "Content-Length", &len);
            c->body_len = cl != NULL ? strtoll(cl, NULL, 10) : 0;
            if (c->body_len < 0 || c->body_len > BODY_MAX) {
                close_conn(c);
                return 0;
            }
        }
        if (c->len < c->head_len + (size_t)c->body_len) return 1;
        serve(c);
        if (c->fd < 0) return 0;
        if (c->len == 0) return 1;
    }
}

static void on_readable(struct conn *c) {
    if (c->cap - c->len < 65536) {
        size_t cap = c->cap ? c->cap * 2 : 131072;
        char *grown = realloc(c->buf, cap);
        if (grown == NULL) exit(3);
        c->buf = grown;
        c->cap = cap;
    }
    ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        close_conn(c);
        return;
    }
    c->len += (size_t)n;
    advance(c);
}

static void accept_conn(int listener, unsigned *accepted) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) return;
    for (int i = 0; i < CONN_MAX; i++)
        if (conns[i].fd < 0) {
            conns[i].fd = fd;
            conns[i].number = ++*accepted;
            return;
        }
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: wire_recorder PORTFILE DIR OWNER_PID\n");
        return 2;
    }
    pid_t owner = (pid_t)atol(argv[3]);
    setsid(); /* its own process group: the spec stops it with one kill */
    signal(SIGPIPE, SIG_IGN);
    char path[4096];
    snprintf(path, sizeof path, "%s/wire.log", argv[2]);
    log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
    if (log_fd < 0) {
        perror(path);
        return 1;
    }
    int listener = listen_and_announce("wire_recorder", argv[1]);
    unsigned accepted = 0;
    for (int i = 0; i < CONN_MAX; i++) conns[i].fd = -1;
    while (kill(owner, 0) == 0) {
        struct pollfd p[CONN_MAX + 1] = {{listener, POLLIN, 0}};
        struct conn *polled[CONN_MAX + 1] = {NULL};
        nfds_t count = 1;
        for (int i = 0; i < CONN_MAX; i++) {
            if (conns[i].fd < 0) continue;
            p[count] = (struct pollfd){conns[i].fd, POLLIN, 0};
            polled[count++] = &conns[i];
        }
        if (poll(p, count, 500) <= 0) continue;
        if (p[0].revents) accept_conn(listener, &accepted);
        for (nfds_t i = 1; i < count; i++)
            if (p[i].revents && polled[i]->fd == p[i].fd) on_readable(polled[i]);
    }
    for (int i = 0; i < CONN_MAX; i++)
        if (conns[i].fd >= 0) close_conn(&conns[i]);
    close(listener);
    close(log_fd);
    return 0;
}
