/* sink.c: response bodies to memory or, for a 2xx with save_to, to a file through a .part name. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"

int sink_init(body_sink *s, const char *save_to, buffer *memory) {
    memset(s, 0, sizeof *s);
    s->memory = memory;
    s->save_to = save_to;
    if (save_to == NULL) return 1;
    size_t n = strlen(save_to);
    s->part_path = malloc(n + 6);
    if (s->part_path == NULL) return 0;
    memcpy(s->part_path, save_to, n);
    memcpy(s->part_path + n, ".part", 6);
    return 1;
}

static void note_errno(body_sink *s) {
    if (s->detail == NULL) s->detail = strdup(strerror(errno));
}

/* The file is opened only once a 2xx status is known, so an error body never lands in it. */
static int decide(body_sink *s, long status) {
    s->decided = 1;
    if (s->part_path == NULL || status < 200 || status > 299) {
        json_body_begin(&s->json, status);
        return 1;
    }
    s->file = fopen(s->part_path, "wb");
    if (s->file == NULL) {
        note_errno(s);
        return 0;
    }
    s->to_file = 1;
    return 1;
}

int sink_write(body_sink *s, long status, const char *data, size_t len) {
    if (!s->decided && !decide(s, status)) return 0;
    if (!s->to_file)
        return s->json.state != JSON_BODY_OFF ? json_body_write(&s->json, s->memory, data, len)
                                              : buffer_append(s->memory, data, len);
    if (fwrite(data, 1, len, s->file) != len) {
        note_errno(s);
        return 0;
    }
    s->saved_bytes += (long long)len;
    return 1;
}

static void close_file(body_sink *s, int keep) {
    if (s->file != NULL) {
        if (fclose(s->file) != 0 && keep) note_errno(s);
        s->file = NULL;
    }
}

int sink_finish(body_sink *s, long status) {
    if (!json_body_finish(&s->json)) return 0;
    if (s->part_path == NULL) return 1;
    /* A 2xx with an empty body still produces the (empty) file. */
    if (!s->decided && !decide(s, status)) return 0;
    if (!s->to_file) return 1;
    close_file(s, 1);
    if (s->detail == NULL && rename(s->part_path, s->save_to) != 0) note_errno(s);
    if (s->detail != NULL) {
        remove(s->part_path);
        return 0;
    }
    free(s->part_path);
    s->part_path = NULL; /* renamed: nothing left to remove */
    return 1;
}

void sink_free(body_sink *s) {
    if (s->file != NULL) {
        close_file(s, 0);
        if (s->part_path != NULL) remove(s->part_path);
    } else if (s->part_path != NULL && s->to_file) {
        remove(s->part_path);
    }
    free(s->part_path);
    s->part_path = NULL;
    free(s->detail);
    s->detail = NULL;
}
