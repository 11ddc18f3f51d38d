/* shim.c: the allocator under `make torture`, preloaded (LD_PRELOAD) into the interpreter.
 *
 * Every allocation passes through to the allocator below it (libc's, or ASan's or valgrind's). Inside a
 * window the harness opens around one SDK call (control.c), each allocation of the thread that opened it
 * is counted, by the library whose code asked for it, and the ones the harness names fail: the n-th of
 * all, or the n-th of one library, once or twice in a row. A shrink never fails, nor does a free.
 *   - The library of an allocation: the object holding the code that called malloc, or, when that is
 *     libc or a library below another (OpenSSL below libcurl), the nearest caller on the stack that is
 *     the core, libyajl, zlib, libcurl or the interpreter (Lua's C code). The allocation functions the
 *     core hands a library (yajl's) count for that library.
 *   - Lua's own allocations come through the state's allocator (shim_lua_alloc, installed by control.c),
 *     not malloc: LuaJIT does not use malloc, and the allocator is told the old size (Lua requires that a
 *     shrink never fails).
 *   - The C blocks allocated inside the window are remembered until freed: those still live once the
 *     harness has closed and collected everything are leaks. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unwind.h>

#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

/* dlsym allocates while the real functions are being looked up: from here, never freed. */
static char arena[16384] __attribute__((aligned(16)));
static size_t arena_used;

static int in_arena(const void *p) {
    return (const char *)p >= arena && (const char *)p < arena + sizeof arena;
}

static void *arena_alloc(size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n > sizeof arena - arena_used) return NULL;
    void *p = arena + arena_used;
    arena_used += n;
    return p;
}

static TLS int busy;        /* inside the shim: pass through */
static TLS int in_lua_alloc; /* inside Lua's own allocator: counted there, not again here */

static void resolve(void) {
    static int resolving;
    if (resolving) return;
    resolving = 1;
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_free = dlsym(RTLD_NEXT, "free");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    resolving = 0;
}

__attribute__((constructor)) static void start(void) {
    resolve();
}

/* ---- which library asked ---------------------------------------------------------------------- */

static const char *const lib_names[SHIM_LIBS] = {"core", "lua", "yajl", "zlib", "curl", "other"};

typedef struct {
    uintptr_t lo, hi;
    int lib;
} code_range;

static code_range ranges[128];
static int range_count;

static int lib_of_object(const char *name) {
    if (name == NULL || name[0] == '\0') return SHIM_LUA; /* the interpreter: Lua's C library is in it */
    if (strstr(name, "/falcon/core.so") != NULL) return SHIM_CORE;
    if (strstr(name, "libyajl") != NULL) return SHIM_YAJL;
    if (strstr(name, "/libz.so") != NULL) return SHIM_ZLIB;
    if (strstr(name, "libcurl") != NULL) return SHIM_CURL;
    return -1;
}

/* Functions of the core through which a library gets its memory (yajl's allocator, csrc/yajl_memory.c):
 * what they allocate, that library asked for. Static functions: found in core.so's symbol table. */
static const struct {
    const char *name;
    int lib;
} handed[] = {{"yajl_memory_take", SHIM_YAJL}, {"yajl_memory_grow", SHIM_YAJL}};

static void add_handed(const char *path, uintptr_t base) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(ElfW(Ehdr))) {
        if (fd >= 0) close(fd);
        return;
    }
    size_t size = (size_t)st.st_size;
    const unsigned char *file = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (file == MAP_FAILED) return;
    const ElfW(Ehdr) *eh = (const void *)file;
    const ElfW(Shdr) *sh = (const void *)(file + eh->e_shoff);
    if (eh->e_shoff > size || eh->e_shnum * sizeof *sh > size - eh->e_shoff) eh = NULL;
    for (int i = 0; eh != NULL && i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
        const ElfW(Shdr) *strings = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > size || strings->sh_offset + strings->sh_size > size) continue;
        const ElfW(Sym) *sym = (const void *)(file + sh[i].sh_offset);
        const char *names = (const char *)(file + strings->sh_offset);
        for (size_t k = 0; k < sh[i].sh_size / sizeof *sym; k++) {
            if (sym[k].st_name >= strings->sh_size || range_count == 128) continue;
            for (size_t h = 0; h < sizeof handed / sizeof handed[0]; h++)
                if (strcmp(names + sym[k].st_name, handed[h].name) == 0)
                    ranges[range_count++] = (code_range){base + sym[k].st_value, base + sym[k].st_value + sym[k].st_size,
                                                         handed[h].lib};
        }
    }
    munmap((void *)file, size);
}

static int add_ranges(struct dl_phdr_info *info, size_t size, void *ud) {
    (void)size, (void)ud;
    int lib = lib_of_object(info->dlpi_name);
    if (lib < 0 || (info->dlpi_name[0] == '\0' && range_count > 0)) return 0; /* "" is also the vdso */
    if (lib == SHIM_CORE) add_handed(info->dlpi_name, info->dlpi_addr); /* before the core's own range */
    for (int i = 0; i < info->dlpi_phnum && range_count < 128; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        ranges[range_count++] = (code_range){lo, lo + ph->p_memsz, lib};
    }
    return 0;
}

static int lib_of_address(const void *address) {
    uintptr_t a = (uintptr_t)address;
    for (int i = 0; i < range_count; i++)
        if (a >= ranges[i].lo && a < ranges[i].hi) return ranges[i].lib;
    return -1;
}

/* A walk up the stack that stops early: at the first frame of a known library (attribution), or of the
 * interpreter (a call stack to show). Past those lie the interpreter's frames, and LuaJIT's machine code,
 * which the unwinder cannot always walk (it aborts). */
typedef struct {
    void **frames;
    int count, max;
    int stop_at_known; /* else: stop at the interpreter */
    int lib;
} walk;

static _Unwind_Reason_Code step(struct _Unwind_Context *ctx, void *ud) {
    walk *wk = ud;
    void *ip = (void *)_Unwind_GetIP(ctx);
    int lib = lib_of_address(ip);
    if (wk->count < wk->max) wk->frames[wk->count++] = ip;
    if (lib >= 0 && (wk->stop_at_known || lib == SHIM_LUA)) {
        wk->lib = lib;
        return _URC_END_OF_STACK;
    }
    return wk->count < wk->max ? _URC_NO_REASON : _URC_END_OF_STACK;
}

static int stack_of(void **frames, int max, int stop_at_known, int *lib) {
    walk wk = {frames, 0, max, stop_at_known, SHIM_OTHER};
    _Unwind_Backtrace(step, &wk);
    if (lib != NULL) *lib = wk.lib;
    return wk.count;
}

static int attribute(const void *caller) {
    int lib = lib_of_address(caller);
    if (lib >= 0) return lib;
    void *frames[64];
    stack_of(frames, 64, 1, &lib);
    return lib;
}

/* ---- the window ------------------------------------------------------------------------------- */

static struct {
    int open;
    pthread_t owner;
    int lib;  /* the library whose allocations are numbered; SHIM_ANY: all of them */
    long at;  /* the first to fail (1-based); 0: none */
    int run;  /* how many fail in a row */
    long seen[SHIM_LIBS];
    long total;
    long fired;
    int fired_lib; /* the library of the first allocation failed */
    int where_count;
    void *where[16]; /* and its call stack */
} w;

static int counting(void) {
    return w.open && !busy && !in_lua_alloc && pthread_equal(pthread_self(), w.owner);
}

static int should_fail(int lib) {
    w.total++;
    w.seen[lib]++;
    long n = w.lib == SHIM_ANY ? w.total : w.lib == lib ? w.seen[lib] : 0;
    if (w.at > 0 && n >= w.at && n < w.at + w.run) {
        /* Lua's allocations come from the VM (LuaJIT's machine code, too): no stack is walked there. */
        if (w.fired++ == 0) {
            w.fired_lib = lib;
            w.where_count = lib == SHIM_LUA ? 0 : stack_of(w.where, 16, 0, NULL);
        }
        return 1;
    }
    return 0;
}

/* ---- the blocks allocated inside the window --------------------------------------------------- */

#define SLOTS (1 << 17)
#define FRAMES 8
#define TOMBSTONE ((void *)1)

typedef struct {
    void *ptr;       /* NULL: empty; TOMBSTONE: freed */
    unsigned window; /* the window it belongs to: a slot of an earlier one is empty */
    int lib;
    size_t size;
    int frame_count;
    void *frames[FRAMES];
} block;

static block *blocks; /* open addressing, mmap'd: never from the allocator it watches */
static unsigned window_id;
static long live, tracked_ever;
static int overflow, capture_frames;

static int slot_empty(const block *b) {
    return b->window != window_id || b->ptr == NULL;
}

static size_t slot_of(const void *p) {
    uintptr_t h = (uintptr_t)p >> 4;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (SLOTS - 1);
}

static void track(void *p, size_t size, int lib) {
    if (blocks == NULL) {
        blocks = mmap(NULL, SLOTS * sizeof *blocks, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (blocks == MAP_FAILED) blocks = NULL;
    }
    if (blocks == NULL || tracked_ever >= SLOTS / 2) {
        overflow = 1;
        return;
    }
    size_t i = slot_of(p);
    while (!slot_empty(&blocks[i]) && blocks[i].ptr != TOMBSTONE) i = (i + 1) & (SLOTS - 1);
    block *b = &blocks[i];
    b->ptr = p;
    b->window = window_id;
    b->size = size;
    b->lib = lib;
    b->frame_count = 0;
    if (capture_frames) {
        busy++;
        void *frames[FRAMES + 2];
        int n = stack_of(frames, FRAMES + 2, 0, NULL);
        busy--;
        for (int k = 2; k < n; k++) b->frames[b->frame_count++] = frames[k];
    }
    live++;
    tracked_ever++;
}

static block *find(const void *p) {
    if (blocks == NULL || live == 0 || p == NULL) return NULL;
    for (size_t i = slot_of(p);; i = (i + 1) & (SLOTS - 1)) {
        if (slot_empty(&blocks[i])) return NULL;
        if (blocks[i].ptr == p) return &blocks[i];
    }
}

static int untrack(const void *p) {
    block *b = find(p);
    if (b == NULL) return -1;
    int lib = b->lib;
    b->ptr = TOMBSTONE;
    live--;
    return lib;
}

/* ---- the allocator ---------------------------------------------------------------------------- */

/* Inside the window: counts the allocation and says whether it fails. */
static int fails(const void *caller, int *lib) {
    if (!counting()) return 0;
    busy++;
    *lib = attribute(caller);
    int fail = should_fail(*lib);
    busy--;
    if (fail) errno = ENOMEM;
    return fail;
}

/* A block allocated inside the window (lib >= 0) is remembered. */
static void *kept(void *p, size_t n, int lib) {
    if (p != NULL && lib >= 0) track(p, n, lib);
    return p;
}

EXPORT void *malloc(size_t n) {
    if (real_malloc == NULL) {
        resolve();
        if (real_malloc == NULL) return arena_alloc(n);
    }
    int lib = -1;
    if (fails(__builtin_return_address(0), &lib)) return NULL;
    return kept(real_malloc(n), n, lib);
}

EXPORT void *calloc(size_t count, size_t n) {
    if (real_calloc == NULL) {
        resolve();
        if (real_calloc == NULL) return count != 0 && n > SIZE_MAX / count ? NULL : arena_alloc(count * n);
    }
    int lib = -1;
    if (fails(__builtin_return_address(0), &lib)) return NULL;
    return kept(real_calloc(count, n), count * n, lib);
}

EXPORT void free(void *p) {
    if (p == NULL || in_arena(p)) return;
    untrack(p);
    real_free(p);
}

EXPORT void *realloc(void *p, size_t n) {
    if (p == NULL) return malloc(n);
    if (in_arena(p)) {
        void *moved = malloc(n);
        if (moved != NULL) memcpy(moved, p, n < (size_t)(arena + sizeof arena - (char *)p) ? n : (size_t)(arena + sizeof arena - (char *)p));
        return moved;
    }
    if (n == 0) {
        free(p);
        return NULL;
    }
    int lib = -1;
    /* A block that already has the room does not move, and cannot fail. */
    if (n > malloc_usable_size(p) && fails(__builtin_return_address(0), &lib)) return NULL;
    void *grown = real_realloc(p, n);
    if (grown == NULL) return NULL;
    /* A block from before the window stays the older owner's; one from inside it stays tracked. */
    int owner = untrack(p);
    if (owner >= 0) track(grown, n, owner);
    return grown;
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t n) {
    if (real_posix_memalign == NULL) resolve();
    int lib = -1;
    if (fails(__builtin_return_address(0), &lib)) return ENOMEM;
    int rc = real_posix_memalign(out, alignment, n);
    if (rc == 0 && lib >= 0) track(*out, n, lib);
    return rc;
}

EXPORT void *aligned_alloc(size_t alignment, size_t n) {
    if (real_aligned_alloc == NULL) resolve();
    int lib = -1;
    if (fails(__builtin_return_address(0), &lib)) return NULL;
    return kept(real_aligned_alloc(alignment, n), n, lib);
}

EXPORT void *memalign(size_t alignment, size_t n) {
    if (real_memalign == NULL) resolve();
    int lib = -1;
    if (fails(__builtin_return_address(0), &lib)) return NULL;
    return kept(real_memalign(alignment, n), n, lib);
}

/* ---- Lua's allocator -------------------------------------------------------------------------- */

static shim_lua_alloc_fn lua_below;
static void *lua_below_ud;

EXPORT void shim_set_lua_alloc(shim_lua_alloc_fn below, void *ud) {
    lua_below = below;
    lua_below_ud = ud;
}

/* A new block, or a block grown, may fail; a shrink or a free never does. (For a new block, Lua 5.4
 * passes the object's type as osize.) */
EXPORT void *shim_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    if (nsize > 0 && (ptr == NULL || nsize > osize) && counting()) {
        busy++;
        int fail = should_fail(SHIM_LUA);
        busy--;
        if (fail) return NULL;
    }
    in_lua_alloc++;
    void *p = lua_below(lua_below_ud, ptr, osize, nsize);
    in_lua_alloc--;
    return p;
}

/* ---- the harness's controls (control.c) ------------------------------------------------------- */

EXPORT void shim_open(int lib, long at, int run) {
    range_count = 0;
    dl_iterate_phdr(add_ranges, NULL);
    memset(&w, 0, sizeof w);
    w.lib = lib;
    w.at = at;
    w.run = run;
    w.owner = pthread_self();
    if (++window_id == 0 && blocks != NULL) memset(blocks, 0, SLOTS * sizeof *blocks);
    live = tracked_ever = 0;
    overflow = 0;
    w.open = 1;
}

/* Closing twice gives the same figures. */
EXPORT long shim_close(long seen[SHIM_LIBS], int *fired_lib) {
    w.open = 0;
    if (seen != NULL) memcpy(seen, w.seen, sizeof w.seen);
    if (fired_lib != NULL) *fired_lib = w.fired ? w.fired_lib : SHIM_ANY;
    return w.fired;
}

EXPORT long shim_live(int *overflowed) {
    if (overflowed != NULL) *overflowed = overflow;
    return live;
}

EXPORT void shim_capture_frames(int on) {
    capture_frames = on;
}

EXPORT const char *shim_lib_name(int lib) {
    return lib >= 0 && lib < SHIM_LIBS ? lib_names[lib] : "any";
}

static int describe_frames(void *const *frames, int count, char *out, size_t size, int used) {
    for (int f = 0; f < count && used > 0 && (size_t)used < size; f++) {
        Dl_info info;
        if (!dladdr(frames[f], &info)) continue;
        const char *object = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
        if (info.dli_sname != NULL)
            used += snprintf(out + used, size - (size_t)used, " < %s+%#lx", info.dli_sname,
                             (unsigned long)((char *)frames[f] - (char *)info.dli_saddr));
        else
            used += snprintf(out + used, size - (size_t)used, " < %s+%#lx", object ? object + 1 : "?",
                             (unsigned long)((char *)frames[f] - (char *)info.dli_fbase));
    }
    return used;
}

/* Where the first failed allocation of the last window was asked for. */
EXPORT void shim_fired_where(char *out, size_t size) {
    int used = snprintf(out, size, "failed");
    describe_frames(w.where, w.where_count, out, size, used);
}

/* The k-th block still live (0-based): "<lib> <size> bytes at <frames>"; 0 past the last. */
EXPORT int shim_describe(long k, char *out, size_t size) {
    for (size_t i = 0; blocks != NULL && i < SLOTS; i++) {
        const block *b = &blocks[i];
        if (slot_empty(b) || b->ptr == TOMBSTONE || k-- > 0) continue;
        int used = snprintf(out, size, "%s %zu bytes", lib_names[b->lib], b->size);
        describe_frames(b->frames, b->frame_count, out, size, used);
        return 1;
    }
    return 0;
}
