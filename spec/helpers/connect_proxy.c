/* connect_proxy.c: a small HTTP CONNECT proxy for the specs, so that TLS through a proxy (login, API
 * calls, revoke) is tested for real. It tunnels CONNECTs to 127.0.0.1 only, appends every request head
 * it receives to LOG (one write per head, so heads never interleave), and exits once OWNER_PID (the
 * test process) is gone. One process per connection; the spec stops the whole process group.
 *
 *   connect_proxy PORTFILE LOG OWNER_PID      writes "PORT PGID" to PORTFILE once it listens */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "announce.h"

#define HEAD_MAX 16384

static pid_t owner;

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0) return 0;
        data += n;
        len -= (size_t)n;
    }
    return 1;
}

/* Copies bytes both ways until either side closes, or the owner is gone. */
static void tunnel(int a, int b) {
    struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    char buf[65536];
    for (;;) {
        int ready = poll(p, 2, 1000);
        if (ready < 0 || kill(owner, 0) != 0) return;
        for (int i = 0; i < 2 && ready > 0; i++) {
            if (p[i].revents == 0) continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n <= 0 || !write_all(p[1 - i].fd, buf, (size_t)n)) return;
        }
    }
}

static void answer(int fd, const char *status) {
    char line[128];
    int n = snprintf(line, sizeof line, "HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n", status);
    write_all(fd, line, (size_t)n);
}

static void serve(int client, const char *log_path) {
    char head[HEAD_MAX + 1];
    size_t len = 0;
    char *end = NULL;
    while (end == NULL && len < HEAD_MAX) {
        ssize_t n = read(client, head + len, HEAD_MAX - len);
        if (n <= 0) return;
        len += (size_t)n;
        head[len] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    if (end == NULL) return;
    size_t head_len = (size_t)(end + 4 - head);
    int log = open(log_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (log >= 0) {
        write_all(log, head, head_len);
        close(log);
    }
    unsigned port = 0;
    if (sscanf(head, "CONNECT 127.0.0.1:%u HTTP/1.1\r\n", &port) != 1 || port == 0 || port > 65535) {
        answer(client, "403 Forbidden");
        return;
    }
    int upstream = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((unsigned short)port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (upstream < 0 || connect(upstream, (struct sockaddr *)&to, sizeof to) != 0) {
        answer(client, "502 Bad Gateway");
        if (upstream >= 0) close(upstream);
        return;
    }
    const char *established = "HTTP/1.1 200 Connection established\r\n\r\n";
    /* Bytes that came after the head (the TLS ClientHello, when the client did not wait) go on. */
    if (write_all(client, established, strlen(established)) &&
        (len == head_len || write_all(upstream, head + head_len, len - head_len)))
        tunnel(client, upstream);
    close(upstream);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: connect_proxy PORTFILE LOG OWNER_PID\n");
        return 2;
    }
    owner = (pid_t)atol(argv[3]);
    setsid(); /* its own process group: the spec stops the listener and every tunnel at once */
    signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
    signal(SIGPIPE, SIG_IGN);
    int listener = listen_and_announce("connect_proxy", argv[1]);
    struct pollfd p = {listener, POLLIN, 0};
    while (kill(owner, 0) == 0) {
        if (poll(&p, 1, 500) <= 0) continue;
        int client = accept(listener, NULL, NULL);
        if (client < 0) continue;
        pid_t pid = fork();
        if (pid == 0) {
            close(listener);
            serve(client, argv[2]);
            _exit(0);
        }
        close(client);
    }
    return 0;
}
