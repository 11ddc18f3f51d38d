/* idle.c: watching kept-alive connections while they are idle (see idle.h). */
#define _DEFAULT_SOURCE
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "idle.h"

/* Order does not matter in the set: the last item fills the hole (callers step i back to see it). */
static void forget(idle_set *set, int i) {
    set->items[i] = set->items[--set->count];
}

/* libcurl's close, seen: a descriptor number is reused by the next socket the process opens, so a closed
 * one must leave the set at once or the next check would read someone else's socket. */
static int on_close_socket(void *ud, curl_socket_t fd) {
    idle_set *set = ud;
    for (int i = 0; i < set->count; i++)
        if (set->items[i].fd == fd) forget(set, i--);
    return close(fd);
}

/* Set once per handle (its connection cache lives as long as it does); set must outlive the handle. */
void idle_watch(CURL *easy, idle_set *set) {
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, set);
}

/* A connection's name that both sides know: libcurl's prereq callback reports the local port of the
 * connection a request goes out on, not its descriptor. -1 for a socket that is not TCP over IP (a unix
 * socket never matches). */
static int local_port(curl_socket_t fd) {
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) return -1;
    if (addr.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return -1;
}

/* A connection already in the set stays once (reused and idle again); past IDLE_MAX connections the
 * rest go unwatched, which only loses the stray-bytes check for them, never correctness of the set. */
void idle_add_last(idle_set *set, CURL *easy) {
    curl_socket_t fd = CURL_SOCKET_BAD;
    /* CURL_SOCKET_BAD when libcurl did not keep the connection. */
    if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD) return;
    for (int i = 0; i < set->count; i++)
        if (set->items[i].fd == fd) return;
    if (set->count == IDLE_MAX) return; /* beyond: unwatched (libcurl keeps far fewer per host) */
    /* The local port is read now, while the socket is surely open: it is how on_prereq will name it. */
    set->items[set->count].fd = fd;
    set->items[set->count].local_port = local_port(fd);
    set->count++;
}

/* The connection carries a request again: it is not idle, so bytes on it are the answer, not strays. */
void idle_take(idle_set *set, int port) {
    for (int i = 0; i < set->count; i++)
        if (set->items[i].local_port == port) forget(set, i--);
}

/* The bytes nobody asked for are read and dropped, and the connection shut down: libcurl's own check
 * then finds it closed and opens another (with the bytes left queued, it would find it alive). The
 * socket is not closed here: it is libcurl's, which closes it. */
static void discard(curl_socket_t fd) {
    /* Bounded (64 reads of 4 KiB) so a peer that keeps sending cannot hold the caller here; MSG_DONTWAIT
     * so an empty socket never blocks. */
    char sink[4096];
    for (int i = 0; i < 64 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++) continue;
    shutdown(fd, SHUT_RDWR);
    for (int i = 0; i < 64 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++) continue;
}

/* poll with a zero timeout: a readable idle socket has either stray bytes or the peer's close (a read of
 * 0), and either way must not carry the next request. One syscall per idle connection per request. */
void idle_check(idle_set *set) {
    for (int i = 0; i < set->count; i++) {
        struct pollfd p = {set->items[i].fd, POLLIN, 0};
        if (poll(&p, 1, 0) == 1) {
            discard(set->items[i].fd);
            forget(set, i--);
        }
    }
}
