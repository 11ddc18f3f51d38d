/* announce.h: what the specs' helper servers (connect_proxy.c, hostile_server.c) share: listening on a free
 * port of 127.0.0.1 and telling the spec which one, with the process group that stops the server
 * (spec/helpers/spawn.lua reads it). Included by one .c file per program. */
#ifndef FALCONLUA_SPEC_ANNOUNCE_H
#define FALCONLUA_SPEC_ANNOUNCE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Listens on 127.0.0.1 (a free port) and writes "PORT PGID" to port_file; exits on failure. */
static int listen_and_announce(const char *name, const char *port_file) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in at;
    memset(&at, 0, sizeof at);
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t at_len = sizeof at;
    if (listener < 0 || bind(listener, (struct sockaddr *)&at, sizeof at) != 0 || listen(listener, 64) != 0 ||
        getsockname(listener, (struct sockaddr *)&at, &at_len) != 0) {
        perror(name);
        exit(1);
    }
    /* Written whole under another name, then renamed: a reader never sees half a port. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%u %ld\n", (unsigned)ntohs(at.sin_port), (long)getpgrp()) < 0 || fclose(f) != 0 ||
        rename(tmp, port_file) != 0) {
        fprintf(stderr, "%s: cannot write the port file %s\n", name, port_file);
        exit(1);
    }
    return listener;
}

#endif
