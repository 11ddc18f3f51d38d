/* terminal.c: what the `falcon` command needs from the operating system that Lua lacks: signals caught
 * as a flag (so that every way the command ends runs its cleanup), the terminal's echo, what a file
 * descriptor is (terminal, pipe, file) and its width, and a file's owner and mode.
 *
 * lua-posix has all of this, but Debian 12 builds it for Lua 5.1-5.3 only, and the command runs under
 * Lua 5.4 first; this is the small part the command uses, for every VM alike.
 *
 * Signals: SIGINT, SIGTERM and SIGHUP set a flag (read with caught()) and, as lua.c does for Ctrl-C, a
 * hook that raises an error at the next Lua instruction of the main state; a blocking read or sleep is
 * interrupted (no SA_RESTART). The handler also puts back the terminal mode echo_off() changed
 * (tcsetattr is async-signal-safe), so no way out leaves echo off. A second signal ends the process at
 * once, by that signal. SIGPIPE is ignored: a write to a closed pipe fails with EPIPE, which the command
 * turns into a quiet end after its cleanup. Nothing here is owned by Lua: the state is process-wide, as
 * signal dispositions are. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "compat.h"
#include "errors.h"
#include "terminal.h"

/* Process-wide, as the signal dispositions they go with: written by the handler (hence volatile
 * sig_atomic_t) or set before it can run (saved_mode is complete before saved_fd says it is valid). */
static volatile sig_atomic_t caught_signal = 0;
static lua_State *volatile main_state = NULL;
static struct termios saved_mode;
static volatile sig_atomic_t saved_fd = -1;

static const int CAUGHT[] = {SIGINT, SIGTERM, SIGHUP};

/* For C code that waits (clock.c's sleep): a caught signal ends the wait instead of resuming it. */
int terminal_signal_caught(void) {
    return caught_signal;
}

/* Runs at the next Lua instruction after the signal, where raising is safe (the handler itself touches
 * the Lua state only through lua_sethook, as lua.c does for Ctrl-C). Removes itself first, so the
 * command's cleanup code runs unhooked. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "falcon: stopped by signal %d", (int)caught_signal);
}

/* Also called from the signal handler: only tcsetattr, which is async-signal-safe, and plain stores. */
static void restore_mode(void) {
    int fd = saved_fd;
    if (fd >= 0) {
        tcsetattr(fd, TCSANOW, &saved_mode);
        saved_fd = -1;
    }
}

/* errno is saved and put back: the handler may interrupt code that is about to read it. */
static void on_signal(int sig) {
    int saved_errno = errno;
    restore_mode();
    if (caught_signal != 0) { /* the second: end now, by this signal */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    caught_signal = sig;
    if (main_state != NULL) lua_sethook(main_state, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    errno = saved_errno;
}

/* catch_signals(): from the main state, before anything is sent or the terminal changed. */
static int terminal_catch(lua_State *L) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* Blocked while the handler runs: two signals at once would both see caught_signal == 0. */
    for (size_t i = 0; i < sizeof CAUGHT / sizeof CAUGHT[0]; i++) sigaddset(&sa.sa_mask, CAUGHT[i]);
    main_state = L;
    for (size_t i = 0; i < sizeof CAUGHT / sizeof CAUGHT[0]; i++) sigaction(CAUGHT[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* release_signals(): the default dispositions again (before running another program, which would
 * inherit an ignored SIGPIPE). */
static int terminal_release(lua_State *L) {
    (void)L;
    for (size_t i = 0; i < sizeof CAUGHT / sizeof CAUGHT[0]; i++) signal(CAUGHT[i], SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    main_state = NULL;
    return 0;
}

/* caught() -> the number of the signal caught, or nil. */
static int terminal_caught(lua_State *L) {
    if (caught_signal == 0) return 0;
    lua_pushinteger(L, caught_signal);
    return 1;
}

/* die(signo): ends the process by that signal, its default action (the caller's shell then knows
 * why, as it does for cat). Returns only if the signal does not end it. */
static int terminal_die(lua_State *L) {
    int sig = (int)errors_check_number(L, 1, "terminal.die", "signal");
    if (sig != SIGINT && sig != SIGTERM && sig != SIGHUP && sig != SIGPIPE)
        return errors_raise(L, "terminal.die", "bad argument 'signal' (INT, TERM, HUP or PIPE expected)");
    /* Output written so far is the command's result: it is flushed before the process ends. */
    fflush(stdout);
    fflush(stderr);
    /* The signal may be blocked (we are in the cleanup after catching it): unblock it, or raise would
     * only mark it pending. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    signal(sig, SIG_DFL);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    return 0;
}

/* kind(fd) -> "terminal", "pipe" (a pipe or a socket), "file", "other", or nil when fd is not open. */
static int terminal_kind(lua_State *L) {
    int fd = (int)errors_check_number(L, 1, "terminal.kind", "fd");
    struct stat st;
    if (fstat(fd, &st) != 0) return 0;
    if (isatty(fd)) lua_pushliteral(L, "terminal");
    else if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) lua_pushliteral(L, "pipe");
    else if (S_ISREG(st.st_mode)) lua_pushliteral(L, "file");
    else lua_pushliteral(L, "other");
    return 1;
}

/* columns(fd) -> the terminal's width, or nil. */
static int terminal_columns(lua_State *L) {
    int fd = (int)errors_check_number(L, 1, "terminal.columns", "fd");
    struct winsize ws;
    /* 0 columns: a terminal that does not know its size (a serial line); the caller's default applies. */
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) return 0;
    lua_pushinteger(L, ws.ws_col);
    return 1;
}

/* echo_off(fd) -> true, or nil and the reason. The mode before is kept for echo_restore() and for the
 * signal handler; typed-ahead input stays. */
static int terminal_echo_off(lua_State *L) {
    int fd = (int)errors_check_number(L, 1, "terminal.echo_off", "fd");
    struct termios mode;
    if (tcgetattr(fd, &mode) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        return 2;
    }
    /* The saved mode is in place before saved_fd says so: a signal in between restores nothing rather
     * than a half-written mode. Only ECHO changes: line editing stays, so the secret is typed as usual. */
    saved_mode = mode;
    saved_fd = fd;
    mode.c_lflag &= ~(tcflag_t)ECHO;
    if (tcsetattr(fd, TCSANOW, &mode) != 0) {
        int err = errno;
        saved_fd = -1;
        lua_pushnil(L);
        lua_pushstring(L, strerror(err));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* echo_restore(): the mode echo_off() found (nothing when echo is not off). */
static int terminal_echo_restore(lua_State *L) {
    (void)L;
    restore_mode();
    return 0;
}

/* owner_mode(file) -> owner uid, permission bits, this process's effective uid: of the file a Lua
 * file handle has open (fstat: the file read, not whatever the path names a moment later). */
static int terminal_owner_mode(lua_State *L) {
    FILE **handle = (FILE **)luaL_checkudata(L, 1, "FILE*"); /* luaL_Stream and LuaJIT's both start with it */
    if (handle == NULL || *handle == NULL) return errors_raise(L, "terminal.owner_mode", "bad argument 'file' (closed)");
    struct stat st;
    if (fstat(fileno(*handle), &st) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)st.st_uid);
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    lua_pushinteger(L, (lua_Integer)geteuid());
    return 3;
}

/* core.terminal: EPIPE and SIGPIPE are exported because their numbers are the platform's, and the
 * command compares errors and exit statuses with them. */
void terminal_register(lua_State *L, int module) {
    static const luaL_Reg functions[] = {{"catch_signals", terminal_catch}, {"release_signals", terminal_release},
                                         {"caught", terminal_caught},       {"die", terminal_die},
                                         {"kind", terminal_kind},           {"columns", terminal_columns},
                                         {"echo_off", terminal_echo_off},   {"echo_restore", terminal_echo_restore},
                                         {"owner_mode", terminal_owner_mode}, {NULL, NULL}};
    luaL_newlib(L, functions);
    lua_pushinteger(L, EPIPE);
    lua_setfield(L, -2, "EPIPE");
    lua_pushinteger(L, SIGPIPE);
    lua_setfield(L, -2, "SIGPIPE");
    lua_setfield(L, module, "terminal");
}
