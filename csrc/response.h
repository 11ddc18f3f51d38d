/* response.h: an HTTP/1.1 response read with libhttp-parser (Node's parser, in Debian as
 * libhttp-parser-dev), fed in whatever chunks the socket gives. Status, header block and body land in a
 * transfer_result, exactly where the libcurl path puts them, so one function (kind_finish in kinds.c)
 * turns either into Lua values. */
#ifndef FALCON_RESPONSE_H
#define FALCON_RESPONSE_H

#include <http_parser.h>

#include "transfer.h"

typedef struct {
    http_parser parser;
    http_parser_settings settings;
    transfer_result *rs;     /* status, headers (raw "Name: value\r\n" block), body via rs->sink */
    int head_request;        /* a response to HEAD has no body whatever its headers say */
    int in_value;            /* the last header callback was a value */
    int received;            /* bytes seen at all */
    int body_started;
    int complete;
    int keep_alive;
    int sink_failed;
    long long body_bytes;
    long long content_length; /* -1 when not announced */
} response_parser;

enum { RESPONSE_MORE = 0, RESPONSE_DONE = 1, RESPONSE_FAILED = -1 };

void response_init(response_parser *rp, transfer_result *rs, int head_request);

/* Feeds bytes (len 0 means the peer closed the connection). Returns RESPONSE_DONE once the response is
 * complete, RESPONSE_MORE while more is needed, RESPONSE_FAILED with rs->code and rs->detail set
 * (CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_WEIRD_SERVER_REPLY, CURLE_WRITE_ERROR,
 * CURLE_OUT_OF_MEMORY: the codes libcurl gives for the same failures). */
int response_feed(response_parser *rp, const char *data, size_t len);

#endif
