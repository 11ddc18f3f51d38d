/* yajl_memory.h: the memory yajl gets from the core. yajl writes into what its allocator returns without
 * checking for NULL (a failed 2,048-byte buffer was a SIGSEGV), so its allocator never returns NULL:
 *   - every block yajl takes is on its owner's list, and yajl_memory_free frees them all, whatever state
 *     yajl was left in (a handle half made, a buffer half grown): nothing yajl holds is lost, and a
 *     handle an allocation failed inside is never walked again (yajl_free would);
 *   - a failed allocation raises a memory error on *L, the state of the protected call yajl runs under
 *     (json_decode.c and token.c call yajl only there), which unwinds yajl's frames; the owner's parser
 *     is then spent, and freed with the list.
 * An owner that parses a secret (token.c: the token endpoint's answer) asks for wiped memory: yajl
 * copies a string with escapes into a buffer of its own (its decode buffer) and grows that buffer by
 * realloc, so every block is wiped before it is freed, and a block that grows moves by copy, the old one
 * wiped, never by realloc (which would free the old bytes as they are). */
#ifndef FALCON_YAJL_MEMORY_H
#define FALCON_YAJL_MEMORY_H

#include <lua.h>
#include <yajl/yajl_common.h>

typedef struct yajl_block yajl_block;

typedef struct {
    yajl_block *blocks;
    lua_State **L; /* the state yajl runs under right now (never NULL while yajl allocates) */
    int wipe;      /* the blocks may hold a secret: wiped before they are freed */
} yajl_memory;

/* L points to where the owner keeps the state of the protected call it runs yajl under; the owner sets
 * it before each call into yajl. wipe: see above. Allocates nothing. */
void yajl_memory_init(yajl_memory *m, lua_State **L, int wipe);
/* The allocation functions to hand yajl_alloc (it copies them; they point to m, which must outlive the
 * parser). */
yajl_alloc_funcs yajl_memory_funcs(yajl_memory *m);
/* Frees (and wipes, if asked) every block yajl took: what yajl_free would free, without looking at the
 * handle. Safe to call twice; m can be used again after it. */
void yajl_memory_free(yajl_memory *m);

#endif
