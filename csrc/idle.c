/* idle.c: watching kept-alive connections while they are idle (see idle.h). */
#define _DEFAULT_SOURCE
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "idle.h"

static void forget(idle_set *set, int i) {
    set->items[i] = set->items[--set->count];
}

static int on_close_socket(void *ud, curl_socket_t fd) {
    idle_set *set = ud;
    for (int i = 0; i < set->count; i++)
        if (set->items[i].fd == fd) forget(set, i--);
    return close(fd);
}

void idle_watch(CURL *easy, idle_set *set) {
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, set);
}

static int local_port(curl_socket_t fd) {
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) return -1;
    if (addr.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return -1;
}

void idle_add_last(idle_set *set, CURL *easy) {
    curl_socket_t fd = CURL_SOCKET_BAD;
    /* CURL_SOCKET_BAD when libcurl did not keep the connection. */
    if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD) return;
    for (int i = 0; i < set->count; i++)
        if (set->items[i].fd == fd) return;
    if (set->count == IDLE_MAX) return; /* beyond: unwatched (libcurl keeps far fewer per host) */
    set->items[set->count].fd = fd;
    set->items[set->count].local_port = local_port(fd);
    set->count++;
}

void idle_take(idle_set *set, int port) {
    for (int i = 0; i < set->count; i++)
        if (set->items[i].local_port == port) forget(set, i--);
}

/* The bytes nobody asked for are read and dropped, and the connection shut down: libcurl's own check
 * then finds it closed and opens another (with the bytes left queued, it would find it alive). The
 * socket is not closed here: it is libcurl's, which closes it. */
static void discard(curl_socket_t fd) {
    char sink[4096];
    for (int i = 0; i < 64 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++) continue;
    shutdown(fd, SHUT_RDWR);
    for (int i = 0; i < 64 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++) continue;
}

void idle_check(idle_set *set) {
    for (int i = 0; i < set->count; i++) {
        struct pollfd p = {set->items[i].fd, POLLIN, 0};
        if (poll(&p, 1, 0) == 1) {
            discard(set->items[i].fd);
            forget(set, i--);
        }
    }
}
