/* yajl_memory.c: yajl's allocator (see yajl_memory.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "yajl_memory.h"

/* A block's header: its place on the owner's list and its size (what a wipe covers). The union keeps
 * what follows aligned as malloc's. */
struct yajl_block {
    union {
        struct {
            yajl_block *prev, *next;
            size_t size;
        } link;
        long double align_ld;
        long long align_ll;
        void *align_p;
    } h;
};

/* A doubly linked list, each block carrying its own links: yajl frees and grows blocks in any order,
 * and each must leave the list in O(1), without a search. */
static void link_block(yajl_memory *m, yajl_block *b) {
    b->h.link.prev = NULL;
    b->h.link.next = m->blocks;
    if (m->blocks != NULL) m->blocks->h.link.prev = b;
    m->blocks = b;
}

static void unlink_block(yajl_memory *m, yajl_block *b) {
    if (b->h.link.prev != NULL) b->h.link.prev->h.link.next = b->h.link.next;
    else m->blocks = b->h.link.next;
    if (b->h.link.next != NULL) b->h.link.next->h.link.prev = b->h.link.prev;
}

/* The one place a block is freed: wiped first when its owner asked, over the size yajl asked for. */
static void release(yajl_memory *m, yajl_block *b) {
    if (m->wipe) secret_wipe(b + 1, b->h.link.size);
    free(b);
}

/* Raises on the state of the protected call yajl runs under: yajl's frames are unwound, never returned
 * to with NULL. The message is the one the callers' specs and the torture harness know as a memory
 * error; it is pushed, so under a real shortage Lua may raise its own memory error here instead, which
 * unwinds the same way. */
static void *out_of_memory(yajl_memory *m) {
    lua_State *L = *m->L;
    lua_pushliteral(L, "out of memory while decoding JSON");
    lua_error(L);
    return NULL;
}

/* A new block of size bytes (beyond its header), or NULL when malloc fails or the size overflows. */
static yajl_block *new_block(yajl_memory *m, size_t size) {
    yajl_block *b = size <= (size_t)-1 - sizeof *b ? malloc(sizeof *b + size) : NULL;
    if (b == NULL) return NULL;
    b->h.link.size = size;
    link_block(m, b);
    return b;
}

/* yajl's malloc: never NULL (see out_of_memory). */
static void *yajl_memory_take(void *ctx, size_t size) {
    yajl_block *b = new_block(ctx, size);
    return b != NULL ? b + 1 : out_of_memory(ctx);
}

/* yajl's free; yajl frees NULL in places, as free allows. */
static void yajl_memory_give(void *ctx, void *ptr) {
    if (ptr == NULL) return;
    yajl_block *b = (yajl_block *)ptr - 1;
    unlink_block(ctx, b);
    release(ctx, b);
}

/* A wiped owner's block moves by copy: realloc would free the old bytes unwiped. */
static void *grow_by_copy(yajl_memory *m, yajl_block *b, size_t size) {
    yajl_block *grown = new_block(m, size);
    if (grown == NULL) return out_of_memory(m); /* b stays on the list, wiped when the owner frees it */
    memcpy(grown + 1, b + 1, b->h.link.size < size ? b->h.link.size : size);
    unlink_block(m, b);
    release(m, b);
    return grown + 1;
}

/* A block that cannot grow stays where it was, on the list, until the owner frees the list. */
static void *yajl_memory_grow(void *ctx, void *ptr, size_t size) {
    yajl_memory *m = ctx;
    if (ptr == NULL) return yajl_memory_take(m, size);
    yajl_block *b = (yajl_block *)ptr - 1;
    if (m->wipe) return grow_by_copy(m, b, size);
    unlink_block(m, b);
    yajl_block *grown = size <= (size_t)-1 - sizeof *b ? realloc(b, sizeof *b + size) : NULL;
    if (grown != NULL) grown->h.link.size = size;
    link_block(m, grown != NULL ? grown : b);
    if (grown == NULL) return out_of_memory(m);
    return grown + 1;
}

void yajl_memory_init(yajl_memory *m, lua_State **L, int wipe) {
    m->blocks = NULL;
    m->L = L;
    m->wipe = wipe;
}

/* By value: yajl_alloc copies the struct into the handle, so the functions outlive this call; ctx is m. */
yajl_alloc_funcs yajl_memory_funcs(yajl_memory *m) {
    yajl_alloc_funcs funcs = {yajl_memory_take, yajl_memory_grow, yajl_memory_give, m};
    return funcs;
}

/* Walks the list only, never the yajl handle: the handle itself is one of the blocks. */
void yajl_memory_free(yajl_memory *m) {
    while (m->blocks != NULL) {
        yajl_block *b = m->blocks;
        m->blocks = b->h.link.next;
        release(m, b);
    }
}
