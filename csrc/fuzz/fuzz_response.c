/* libFuzzer harness: the response parser wrapper (response.c over http_parser) fed arbitrary bytes in
 * arbitrary chunks: never reads out of bounds, never reports more body than it was given, and a header
 * block it collects always parses. With a JSON decoder attached (json_body.c, as every API call has), a
 * 2xx that says JSON and is not never completes as a success, and a non-2xx keeps at most JSON_RAW_KEEP
 * bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "../headers.h"
#include "../response.h"

static lua_State *L;
static json_decoder *decoder; /* one for every input, kept alive in the registry; reset per body */

static json_decoder *shared_decoder(void) {
    if (decoder == NULL) {
        L = luaL_newstate();
        if (L == NULL) abort();
        json_limits limits = {32, 8192, 1024, "max_"};
        decoder = json_decoder_push(L, &limits, 0);
        luaL_ref(L, LUA_REGISTRYINDEX);
    }
    return decoder;
}

static void count_header(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
    (void)name, (void)nlen, (void)value, (void)vlen;
    (*(size_t *)ud)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t chunk = (size_t)(data[0] % 17) + 1; /* the first byte picks the chunk size */
    int head = data[0] & 0x80;
    int json = data[0] & 0x40;
    data++, size--;
    transfer_result rs;
    memset(&rs, 0, sizeof rs);
    buffer_init(&rs.headers);
    buffer_init(&rs.body);
    /* Bodies may be compressed (decoded by the sink): bounded at 1 MiB decoded, as a client would be. */
    headers_fields_init(&rs.head, &rs.headers);
    sink_init(&rs.sink, NULL, &rs.body, 1 << 20, &rs.head);
    if (json) json_body_attach(&rs.sink.json, shared_decoder(), 0, &rs.head);
    response_parser rp;
    response_init(&rp, &rs, head);
    int state = RESPONSE_MORE;
    for (size_t pos = 0; pos < size && state == RESPONSE_MORE; pos += chunk) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        state = response_feed(&rp, (const char *)data + pos, n);
    }
    if (state == RESPONSE_MORE) state = response_feed(&rp, NULL, 0);
    if (rs.body.len > (1 << 20)) __builtin_trap();
    if (state == RESPONSE_DONE && rs.code != CURLE_OK) __builtin_trap();
    if (state == RESPONSE_FAILED && rs.code == CURLE_OK) __builtin_trap();
    if (state == RESPONSE_DONE) sink_finish(&rs.sink, rs.status); /* as a driver finishes (transfer.c) */
    int success = rs.status >= 200 && rs.status <= 299;
    if (success && rs.sink.json.state == JSON_BODY_INVALID) __builtin_trap(); /* never bytes */
    if (rs.sink.json.state != JSON_BODY_OFF && rs.body.len > (success ? 0 : JSON_RAW_KEEP)) __builtin_trap();
    size_t headers = 0;
    headers_parse(rs.headers.data, rs.headers.len, count_header, &headers);
    if (!headers_fields_update(&rs.head)) __builtin_trap(); /* as transfer_push reads them */
    if (rs.head.count > headers) __builtin_trap();
    sink_free(&rs.sink);
    headers_fields_free(&rs.head);
    buffer_free(&rs.headers);
    buffer_free(&rs.body);
    free(rs.detail);
    return 0;
}
