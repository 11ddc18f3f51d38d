/* sink.h: where a response body goes, shared by the libcurl transfer and the cosocket response parser.
 * - Content-Encoding gzip/deflate is decoded here (libcurl's decoder is off): the stream must reach its
 *   end, so a truncated compressed body is an error, and the bytes are counted after decoding.
 * - A body kept in memory may hold at most max_memory decoded bytes (the client's max_body_bytes).
 * - A body meant for a file (save_to) goes, once a 2xx status is known, to a temporary file created
 *   exclusively beside the target (never through a planted link, never shared by two downloads) and is
 *   renamed into place only when the exchange succeeded; any other body goes to memory.
 * - A body meant for a callback (on_data: a feed that never ends) is, once a 2xx status is known, handed
 *   on chunk by chunk as decoded and never kept; any other body goes to memory. */
#ifndef FALCON_SINK_H
#define FALCON_SINK_H

#include <stdio.h>
#include <zlib.h>

#include "buffer.h"
#include "headers.h"
#include "json_body.h"

/* SINK_JSON: the JSON decoder stopped the body; json_body.c holds why. */
enum sink_failure { SINK_OK, SINK_NO_MEMORY, SINK_FILE, SINK_TOO_LARGE, SINK_ENCODING, SINK_JSON, SINK_CALLBACK };

/* Takes a decoded chunk; returns 0 to stop the transfer (with *detail set to a malloc'd reason, or NULL). */
typedef int (*sink_data_fn)(void *ud, const char *data, size_t len, char **detail);

typedef struct {
    const char *save_to;   /* borrowed; NULL: the body always goes to memory */
    char *temp_path;       /* the temporary file beside save_to, once created */
    FILE *file;
    int decided;           /* the sink is chosen at the first body byte (or at the end) ... */
    int to_file;           /* ... a 2xx body goes to the file, anything else to memory */
    long long saved_bytes;
    buffer *memory;        /* borrowed: the in-memory body */
    size_t max_memory;     /* 0: no limit */
    size_t kept;           /* decoded bytes kept in memory or handed to the JSON decoder */
    header_fields *head;   /* borrowed: the response's header block and its fields, read at the first body byte */
    z_stream *inflater;    /* set when the body is compressed */
    int raw_deflate;       /* "deflate" sent without its zlib wrapper, as some servers do */
    int stream_ended;      /* the compressed stream reached its end */
    enum sink_failure failure;
    char *detail;          /* what failed (file errors, encodings), or NULL */
    json_body json;        /* a JSON body decoded as it arrives (json_body.c); attached after sink_init */
    sink_data_fn on_data;  /* set after sink_init: a 2xx body goes here, chunk by chunk */
    void *on_data_ud;
    int to_callback;
} body_sink;

/* Returns 0 when out of memory. Every sink must be freed with sink_free, whatever happened. */
int sink_init(body_sink *s, const char *save_to, buffer *memory, size_t max_memory, header_fields *head);

/* Appends body bytes as they came off the wire; status is the response's. Returns 0 on failure
 * (s->failure and s->detail say why). */
int sink_write(body_sink *s, long status, const char *data, size_t len);

/* After a complete, successful exchange: checks that a compressed body ended, creates the (possibly
 * empty) file of a 2xx and renames it into place. Returns 0 on failure (the temporary file is removed). */
int sink_finish(body_sink *s, long status);

/* Closes and removes an unfinished temporary file; frees the sink. Idempotent. */
void sink_free(body_sink *s);

#endif
