/* multipart.h: the one multipart/form-data encoder, streaming. Both the libcurl transfer (through its
 * read callback) and the cosocket driver (exchange:body) read the same bytes from it. The length is
 * known before the first byte is sent; file parts are read from disk in chunks, never whole. */
#ifndef FALCON_MULTIPART_H
#define FALCON_MULTIPART_H

#include <stdio.h>
#include <lua.h>

#include "buffer.h"

typedef struct {
    buffer head;          /* delimiter line and part headers, up to the blank line */
    const char *data;     /* in-memory content (borrowed: the request's anchor keeps it alive) */
    size_t data_len;
    char *path;           /* or a file, streamed */
    long long file_size;  /* size when the form was built; a file that changes size fails the send */
} multipart_part;

typedef struct {
    char boundary[64];
    multipart_part *parts;
    size_t count, cap;
    buffer tail;          /* closing delimiter */
    long long length;     /* exact body length */
    /* reading */
    size_t part;
    int stage;            /* 0: head, 1: content, 2: tail, 3: done */
    size_t offset;        /* within head, in-memory content or tail */
    FILE *file;
    long long file_done;
    char *detail;         /* why reading failed (NULL when there was no memory to say it) */
    int read_failed;      /* a file part could not be read */
    int failed;           /* out of memory while building */
    int raw;              /* no framing: the parts' contents are the whole body (multipart_file_body) */
} multipart;

#define MULTIPART_ERROR ((size_t)-1)

void multipart_init(multipart *m);
/* Adds a part; content is data (data_len bytes) or the file at path (file_size bytes). filename and
 * content_type may be NULL. Returns 0 (adding nothing) when a name breaks the header rules of
 * mime_name_valid, or when out of memory (m->failed). */
int multipart_add(multipart *m, const char *name, size_t name_len, const char *filename, size_t filename_len,
                  const char *content_type, size_t type_len, const char *data, size_t data_len, const char *path,
                  long long file_size);
/* Closes the form: computes the length. Returns 0 when out of memory. */
int multipart_close(multipart *m);
/* "multipart/form-data; boundary=..." */
int multipart_content_type(const multipart *m, buffer *out);
/* Copies up to n next bytes to out; 0 at the end; MULTIPART_ERROR when a file fails (m->detail). */
size_t multipart_read(multipart *m, char *out, size_t n);
/* Starts reading from the first byte again (libcurl may resend on a fresh connection). */
void multipart_rewind(multipart *m);
void multipart_free(multipart *m);

/* Builds a closed form from the checked (mime_check) form array at idx into *form. Every string the form
 * borrows is appended to the table at anchor, which the caller keeps alive while the form is read. The
 * form is *form's from its first byte (anchoring allocates, and may raise), so the caller frees it
 * (multipart_destroy) whatever happens. 0 when out of memory. */
int multipart_from_lua(lua_State *L, int idx, int anchor, multipart **form);
void multipart_destroy(multipart *m);

/* A body that is one file's bytes, streamed as the forms are (a raw multipart: no boundary, no part
 * headers), for a body of bytes given by path (PutObject, ArchiveUploadV1). NULL when out of memory. */
multipart *multipart_file_body(const char *path, long long file_size);

#endif
