/* sink.c: response bodies, decoded, to memory (bounded) or, for a 2xx with save_to, to a temporary file
 * renamed into place, or, for a 2xx with on_data, to a callback chunk by chunk. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "headers.h"
#include "sink.h"

/* Decoded bytes per inflate call: on the stack, small enough for any thread's stack (a libcurl callback
 * may run on a host's), large enough that a compressed page takes few rounds. */
#define INFLATE_CHUNK 16384
/* A hidden name in the target's directory (rename is atomic only within one filesystem), mkstemps'
 * X's, and a ".part" suffix that says what a leftover is if the process dies mid-download. */
#define TEMP_NAME "/.falconlua-XXXXXX.part"
#define TEMP_SUFFIX_LEN 5

/* Nothing is decided or opened here: the status and the headers are not known until the first body byte
 * (or the end of an empty body). save_to, memory and head are borrowed from the transfer. */
int sink_init(body_sink *s, const char *save_to, buffer *memory, size_t max_memory, header_fields *head) {
    memset(s, 0, sizeof *s);
    s->memory = memory;
    s->save_to = save_to;
    s->max_memory = max_memory;
    s->head = head;
    return 1;
}

/* The first failure is the one reported (later ones are its consequences); returns 0, which makes the
 * caller stop the transfer. The detail is strdup'ed (NULL when memory ran out: the failure kind still
 * says what happened). */
static int failed(body_sink *s, enum sink_failure why, const char *detail) {
    if (s->failure == SINK_OK) {
        s->failure = why;
        if (detail != NULL) s->detail = strdup(detail);
    }
    return 0;
}

static int failed_errno(body_sink *s) {
    return failed(s, SINK_FILE, strerror(errno));
}

/* ---- Content-Encoding ------------------------------------------------------------------------ */

/* Content codings compare without case (RFC 9110 section 8.4.1): "GZIP" is gzip. */
static int named(const char *value, size_t len, const char *name) {
    return len == strlen(name) && strncasecmp(value, name, len) == 0;
}

/* gzip and deflate are decoded (what the core asks for); identity passes; anything else (br, zstd, a
 * chain such as "gzip, gzip") is refused rather than handed on as if it were the body. Decoding here,
 * not in libcurl (CURLOPT_HTTP_CONTENT_DECODING is off), is what lets max_body_bytes count decoded bytes
 * and a truncated stream be an error under every driver: the cosocket driver has no libcurl to ask. The
 * value is the server's: it is cut and its control characters replaced before it goes into a message. */
static int choose_decoder(body_sink *s) {
    /* The head's one parse: its fields serve this, the JSON decoder's Content-Type and the Lua table. */
    if (s->head != NULL && !headers_fields_update(s->head)) return failed(s, SINK_NO_MEMORY, NULL);
    size_t len = 0;
    const char *value = s->head != NULL ? headers_fields_get(s->head, "Content-Encoding", &len) : NULL;
    if (value == NULL || len == 0 || named(value, len, "identity")) return 1;
    int gzip = named(value, len, "gzip") || named(value, len, "x-gzip");
    if (!gzip && !named(value, len, "deflate")) {
        char detail[160];
        snprintf(detail, sizeof detail, "unsupported Content-Encoding '%.*s' (the client asks for gzip or deflate)",
                 len > 64 ? 64 : (int)len, value);
        for (char *p = detail; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
        return failed(s, SINK_ENCODING, detail);
    }
    s->inflater = calloc(1, sizeof *s->inflater);
    /* 15 + 32: zlib or gzip, told apart by the header. */
    if (s->inflater == NULL || inflateInit2(s->inflater, 15 + 32) != Z_OK) {
        free(s->inflater);
        s->inflater = NULL;
        return failed(s, SINK_NO_MEMORY, NULL);
    }
    return 1;
}

/* Safe when there is none, and twice. */
static void end_inflater(body_sink *s) {
    if (s->inflater == NULL) return;
    inflateEnd(s->inflater);
    free(s->inflater);
    s->inflater = NULL;
}

/* ---- where decoded bytes go ---------------------------------------------------------------------- */

/* The temporary file: a name of our own beside the target (so a 255-byte target name still works),
 * created with O_EXCL (a planted link or file there is never followed or reused). */
static int open_temp(body_sink *s) {
    const char *slash = strrchr(s->save_to, '/');
    size_t dir_len = slash == NULL ? 1 : (size_t)(slash - s->save_to);
    s->temp_path = malloc(dir_len + sizeof TEMP_NAME);
    if (s->temp_path == NULL) return failed(s, SINK_NO_MEMORY, NULL);
    memcpy(s->temp_path, slash == NULL ? "." : s->save_to, dir_len);
    memcpy(s->temp_path + dir_len, TEMP_NAME, sizeof TEMP_NAME);
    int fd = mkstemps(s->temp_path, TEMP_SUFFIX_LEN);
    if (fd < 0) {
        int saved = errno;
        free(s->temp_path);
        s->temp_path = NULL;
        errno = saved;
        return failed_errno(s);
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    s->file = fdopen(fd, "wb");
    if (s->file == NULL) {
        failed_errno(s);
        close(fd);
        return 0;
    }
    return 1;
}

/* The file is opened only once a 2xx status is known, so an error body never lands in it. Where a body
 * goes: a 2xx with on_data to the callback, a 2xx with save_to to the file, everything else to memory,
 * through the JSON decoder when json_body_begin says so. */
static int decide(body_sink *s, long status) {
    s->decided = 1;
    if (!choose_decoder(s)) return 0;
    if (s->on_data != NULL && status >= 200 && status <= 299) {
        s->to_callback = 1;
        return 1;
    }
    if (s->save_to == NULL || status < 200 || status > 299) {
        json_body_begin(&s->json, status);
        return 1;
    }
    if (!open_temp(s)) return 0;
    s->to_file = 1;
    return 1;
}

/* Decoded bytes to where decide() sent them. The memory bound is checked before the bytes are kept (or
 * fed to the decoder), so a bomb is stopped at max_memory however it is compressed; a file and a callback
 * have no bound here: they are the ways to take any size. */
static int emit(body_sink *s, const char *data, size_t len) {
    if (len == 0) return 1;
    if (s->to_callback) {
        char *why = NULL;
        if (s->on_data(s->on_data_ud, data, len, &why)) return 1;
        failed(s, SINK_CALLBACK, why);
        free(why);
        return 0;
    }
    if (s->to_file) {
        if (fwrite(data, 1, len, s->file) != len) return failed_errno(s);
        s->saved_bytes += (long long)len;
        return 1;
    }
    if (s->max_memory > 0 && len > s->max_memory - s->kept) {
        char detail[96];
        snprintf(detail, sizeof detail, "%zu bytes", s->max_memory);
        return failed(s, SINK_TOO_LARGE, detail);
    }
    s->kept += len;
    /* A JSON body goes to the decoder as it arrives (json_body.c), which says why when it stops. */
    if (s->json.state != JSON_BODY_OFF && !json_body_write(&s->json, s->memory, data, len))
        return failed(s, s->json.state == JSON_BODY_FAILED ? SINK_JSON : SINK_NO_MEMORY, NULL);
    if (s->json.state != JSON_BODY_OFF) return 1;
    return buffer_append(s->memory, data, len) ? 1 : failed(s, SINK_NO_MEMORY, NULL);
}

/* Decodes and emits; a stream that ends is followed only by another member (concatenated gzip). */
static int inflate_and_emit(body_sink *s, const char *data, size_t len) {
    z_stream *z = s->inflater;
    char out[INFLATE_CHUNK];
    z->next_in = (Bytef *)(uintptr_t)data;
    z->avail_in = (uInt)len;
    while (z->avail_in > 0) {
        if (s->stream_ended) {
            if (inflateReset(z) != Z_OK) return failed(s, SINK_ENCODING, "the compressed body cannot be decoded");
            s->stream_ended = 0;
        }
        z->next_out = (Bytef *)out;
        z->avail_out = sizeof out;
        int rc = inflate(z, Z_NO_FLUSH);
        /* "deflate" without the zlib wrapper: start again as raw deflate, once, before any output. */
        if (rc == Z_DATA_ERROR && !s->raw_deflate && z->total_out == 0 && z->total_in <= len) {
            s->raw_deflate = 1;
            if (inflateReset2(z, -15) != Z_OK) return failed(s, SINK_ENCODING, "the compressed body cannot be decoded");
            z->next_in = (Bytef *)(uintptr_t)data;
            z->avail_in = (uInt)len;
            continue;
        }
        if (rc == Z_MEM_ERROR) return failed(s, SINK_NO_MEMORY, NULL); /* zlib's window: memory, not the body */
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return failed(s, SINK_ENCODING, "the compressed body is corrupt");
        if (!emit(s, out, sizeof out - z->avail_out)) return 0;
        if (rc == Z_STREAM_END) s->stream_ended = 1;
        else if (rc == Z_BUF_ERROR && z->avail_out != 0) break; /* needs more input */
    }
    return 1;
}

/* Every body byte of every driver enters here. Returns 0 to stop the transfer (the failure is recorded).
 * zlib counts input in uInt: a larger chunk than that never comes from libcurl or a socket read, and is
 * refused rather than cut. */
int sink_write(body_sink *s, long status, const char *data, size_t len) {
    if (s->failure != SINK_OK) return 0;
    if (!s->decided && !decide(s, status)) return 0;
    if (len > UINT_MAX) return failed(s, SINK_NO_MEMORY, NULL);
    return s->inflater != NULL ? inflate_and_emit(s, data, len) : emit(s, data, len);
}

/* ---- the end ---------------------------------------------------------------------------------- */

/* What the file would have had, had it been created with fopen: 0666 less the umask. mkstemp makes it
 * 0600; the umask is read from /proc (umask() cannot read it without changing it). */
static void give_usual_mode(FILE *file) {
    FILE *status = fopen("/proc/self/status", "r");
    if (status == NULL) return;
    char line[128];
    unsigned mask = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, status) != NULL) found = sscanf(line, "Umask: %o", &mask) == 1;
    fclose(status);
    if (found) fchmod(fileno(file), (mode_t)(0666 & ~mask));
}

/* A download that did not complete leaves nothing behind: the partial file is closed and removed. */
static void drop_temp(body_sink *s) {
    if (s->file != NULL) fclose(s->file);
    s->file = NULL;
    if (s->temp_path != NULL) unlink(s->temp_path);
    free(s->temp_path);
    s->temp_path = NULL;
}

/* The body ended cleanly on the wire; the sink may still refuse it (a compressed stream cut short, JSON
 * left open). Only then is the file renamed over the target: the target is replaced whole or not at all.
 * Returns 0 on failure (recorded), with the temporary file removed. */
int sink_finish(body_sink *s, long status) {
    if (s->failure != SINK_OK) return 0;
    if (s->inflater != NULL && !s->stream_ended && s->inflater->total_in > 0)
        return failed(s, SINK_ENCODING, "the compressed body ended early (truncated)");
    if (!json_body_finish(&s->json)) return failed(s, SINK_JSON, NULL);
    if (s->save_to == NULL) return 1;
    /* A 2xx with an empty body still produces the (empty) file. */
    if (!s->decided && !decide(s, status)) return 0;
    if (!s->to_file) return 1;
    give_usual_mode(s->file);
    int closed = fclose(s->file);
    s->file = NULL;
    if (closed != 0 || rename(s->temp_path, s->save_to) != 0) {
        failed_errno(s);
        drop_temp(s);
        return 0;
    }
    free(s->temp_path);
    s->temp_path = NULL; /* renamed: nothing left to remove */
    return 1;
}

/* Frees whatever the sink still holds (a partial file is removed); safe after sink_finish and twice. */
void sink_free(body_sink *s) {
    drop_temp(s);
    end_inflater(s);
    free(s->detail);
    s->detail = NULL;
}
