/* shim.h: the controls of the torture allocator (shim.c), for the harness's Lua module (control.c). */
#ifndef FALCON_TORTURE_SHIM_H
#define FALCON_TORTURE_SHIM_H

#include <stddef.h>

/* The libraries an allocation is counted under; SHIM_ANY numbers every allocation in one sequence. */
enum { SHIM_ANY = -1, SHIM_CORE = 0, SHIM_LUA, SHIM_YAJL, SHIM_ZLIB, SHIM_CURL, SHIM_OTHER, SHIM_LIBS };

typedef void *(*shim_lua_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);

/* Opens the window: from now on the at-th allocation of lib (SHIM_ANY: of all) and the run - 1 after it
 * fail; at 0 fails none. Forgets the blocks of the previous window. */
void shim_open(int lib, long at, int run);
/* Closes it; fills seen[lib] with the allocations counted and *fired_lib with the library of the first
 * one failed; returns how many failed. */
long shim_close(long seen[SHIM_LIBS], int *fired_lib);
/* C blocks allocated inside the last window and still live; *overflowed when too many to keep. */
long shim_live(int *overflowed);
/* Describes the k-th of them ("<lib> <size> bytes < caller < ..."); 0 past the last. */
int shim_describe(long k, char *out, size_t size);
/* Where the first allocation failed in the last window was asked for ("failed < caller < ..."). */
void shim_fired_where(char *out, size_t size);
/* Blocks allocated from now on keep their call stack (for shim_describe). */
void shim_capture_frames(int on);
const char *shim_lib_name(int lib);

/* Lua's allocator, wrapped: below is the state's own. */
void shim_set_lua_alloc(shim_lua_alloc_fn below, void *ud);
void *shim_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

#endif
