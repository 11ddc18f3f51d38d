/* idle.h: the kept-alive connections of one connection cache (a client's handle, or a multi handle),
 * watched while idle. libcurl 7.88 reuses a connection on which bytes arrived while it was idle (a
 * stray answer after a 204) and reads them as the answer to the next request; before each request the
 * core shuts down such a connection, so libcurl sees it closed and opens another. */
#ifndef FALCON_IDLE_H
#define FALCON_IDLE_H

#include <curl/curl.h>

#define IDLE_MAX 64

typedef struct {
    curl_socket_t fd;
    int local_port; /* what the prereq callback names a connection by */
} idle_connection;

typedef struct {
    idle_connection items[IDLE_MAX];
    int count;
} idle_set;

/* Sets the socket callbacks on easy, so that libcurl's closing of a socket is known to set. */
void idle_watch(CURL *easy, idle_set *set);

/* After a transfer on easy: its connection, if libcurl kept it, is now idle. */
void idle_add_last(idle_set *set, CURL *easy);

/* A connection with this local port is in use again (called from the prereq callback). */
void idle_take(idle_set *set, int local_port);

/* Before a request: shuts down every idle connection that has bytes (or a close) waiting. */
void idle_check(idle_set *set);

#endif
