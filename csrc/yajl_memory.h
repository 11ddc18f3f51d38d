/* yajl_memory.h: the memory yajl gets from the core. yajl writes into what its allocator returns without
 * checking for NULL (a failed 2,048-byte buffer was a SIGSEGV), so its allocator never returns NULL:
 *   - every block yajl takes is on its owner's list, and yajl_memory_free frees them all, whatever state
 *     yajl was left in (a handle half made, a buffer half grown): nothing yajl holds is lost, and a
 *     handle an allocation failed inside is never walked again (yajl_free would);
 *   - a failed allocation raises a memory error on *L, the state of the protected call yajl runs under
 *     (json_decode.c calls yajl only there), which unwinds yajl's frames; the owner's parser is then
 *     spent, and freed with the list. */
#ifndef FALCON_YAJL_MEMORY_H
#define FALCON_YAJL_MEMORY_H

#include <lua.h>
#include <yajl/yajl_common.h>

typedef struct yajl_block yajl_block;

typedef struct {
    yajl_block *blocks;
    lua_State **L; /* the state yajl runs under right now (never NULL while yajl allocates) */
} yajl_memory;

void yajl_memory_init(yajl_memory *m, lua_State **L);
/* The allocation functions to hand yajl_alloc (it copies them). */
yajl_alloc_funcs yajl_memory_funcs(yajl_memory *m);
/* Frees every block yajl took: what yajl_free would free, without looking at the handle. */
void yajl_memory_free(yajl_memory *m);

#endif
