/* floor.c: the baseline `make bench` measures the SDK against — plain libcurl, nothing else.
 *
 *   floor calls URL TOKEN N     one warm-up request, then N GETs of URL on the same easy handle
 *                               (Bearer TOKEN); prints "seconds", "bytes" and "status"
 *   floor handles N [URL]       N idle easy handles (each after one GET of URL when given);
 *                               prints "rss_before" and "rss_after" in KiB
 *
 * Output is "key value" lines, read by bench/driver.lua. The response body is kept in memory, as
 * any real program that wants the answer must, but not parsed: parsing is part of what the SDK
 * costs on top of this floor. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *data;
    size_t len, cap;
} sink;

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    sink *s = ud;
    size_t len = size * n;
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 16384;
        while (cap < s->len + len) cap *= 2;
        char *grown = realloc(s->data, cap);
        if (grown == NULL) return 0;
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    return len;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1. */
static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return -1;
    char line[256];
    long kib = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':') kib = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return kib;
}

static int calls(const char *url, const char *token, long n) {
    CURL *easy = curl_easy_init();
    if (easy == NULL) return 1;
    char auth[4096];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    sink body = {NULL, 0, 0};
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    long status = 0;
    size_t bytes = 0;
    int failed = 0;
    double started = 0;
    /* Request 0 is the warm-up: it opens the connection the timed ones reuse. */
    for (long i = 0; i <= n && !failed; i++) {
        if (i == 1) started = now();
        body.len = 0;
        CURLcode rc = curl_easy_perform(easy);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200) {
            fprintf(stderr, "floor: request %ld failed: %s (status %ld)\n", i, curl_easy_strerror(rc), status);
            failed = 1;
        }
        if (i > 0) bytes += body.len;
    }
    double elapsed = now() - started;
    if (!failed) printf("seconds %.6f\nbytes %zu\nstatus %ld\n", elapsed, bytes, status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
    free(body.data);
    return failed;
}

static int handles(long n, const char *url) {
    CURL **list = calloc((size_t)n, sizeof *list);
    sink body = {NULL, 0, 0};
    if (list == NULL) return 1;
    long before = status_kib("VmRSS");
    int failed = 0;
    for (long i = 0; i < n && !failed; i++) {
        list[i] = curl_easy_init();
        failed = list[i] == NULL;
        if (!failed && url != NULL) {
            curl_easy_setopt(list[i], CURLOPT_URL, url);
            curl_easy_setopt(list[i], CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(list[i], CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(list[i], CURLOPT_WRITEDATA, &body);
            body.len = 0;
            failed = curl_easy_perform(list[i]) != CURLE_OK;
        }
    }
    long after = status_kib("VmRSS");
    if (!failed) printf("rss_before %ld\nrss_after %ld\n", before, after);
    else fprintf(stderr, "floor: handles: a handle failed\n");
    for (long i = 0; i < n; i++)
        if (list[i] != NULL) curl_easy_cleanup(list[i]);
    free(list);
    free(body.data);
    return failed;
}

int main(int argc, char **argv) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 2;
    int rc = 2;
    if (argc == 5 && strcmp(argv[1], "calls") == 0) {
        rc = calls(argv[2], argv[3], strtol(argv[4], NULL, 10));
    } else if ((argc == 3 || argc == 4) && strcmp(argv[1], "handles") == 0) {
        rc = handles(strtol(argv[2], NULL, 10), argc == 4 ? argv[3] : NULL);
    } else {
        fprintf(stderr, "usage: floor calls URL TOKEN N | floor handles N [URL]\n");
    }
    curl_global_cleanup();
    return rc;
}
