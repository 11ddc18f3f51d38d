/* sink.h: where a response body goes. A body meant for a file (save_to) is written to "<save_to>.part"
 * only once a 2xx status is known, and renamed into place only when the exchange succeeded; any other
 * body goes to memory. Shared by the libcurl transfer and the cosocket response parser. */
#ifndef FALCON_SINK_H
#define FALCON_SINK_H

#include <stdio.h>

#include "buffer.h"
#include "json_body.h"

typedef struct {
    const char *save_to;   /* borrowed; NULL: the body always goes to memory */
    char *part_path;       /* "<save_to>.part" */
    FILE *file;
    int decided;           /* the sink is chosen at the first body byte (or at the end) ... */
    int to_file;           /* ... a 2xx body goes to the file, anything else to memory */
    long long saved_bytes;
    char *detail;          /* strerror text of a file failure, or NULL */
    buffer *memory;        /* borrowed: the in-memory body */
    json_body json;        /* a JSON body decoded as it arrives (json_body.c); attached after sink_init */
} body_sink;

/* Returns 0 when out of memory. Every sink must be freed with sink_free, whatever happened. */
int sink_init(body_sink *s, const char *save_to, buffer *memory);

/* Appends body bytes; status is the response's. Returns 0 on failure (s->detail says why when the
 * file failed; otherwise memory ran out). */
int sink_write(body_sink *s, long status, const char *data, size_t len);

/* After a complete, successful exchange: creates the (possibly empty) file of a 2xx, closes it and
 * renames it into place. Returns 0 on failure (s->detail says why; the .part file is removed). */
int sink_finish(body_sink *s, long status);

/* Closes and removes an unfinished .part file; frees the sink. Idempotent. */
void sink_free(body_sink *s);

#endif
