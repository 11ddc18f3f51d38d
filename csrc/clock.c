/* clock.c: wall-clock seconds with sub-second precision, and a plain sleep, for the retry policy
 * of the blocking driver (Lua has neither). */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <sys/time.h>
#include <time.h>

#include "clock.h"
#include "compat.h"
#include "errors.h"
#include "terminal.h"

/* core.now() -> seconds since the epoch, as a float. gettimeofday rather than CLOCK_MONOTONIC: the
 * value is compared with token expiry times and Retry-After dates, which are wall-clock times; the
 * retry policy only takes differences of a few seconds, which a clock step would at worst lengthen. */
static int clock_now(lua_State *L) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    lua_pushnumber(L, (lua_Number)tv.tv_sec + (lua_Number)tv.tv_usec / 1e6);
    return 1;
}

/* core.sleep(seconds): blocks the whole thread, so only the blocking driver uses it (the multi and
 * cosocket drivers wait in their event loops). A day is far past any wait the policy takes (max_retry_wait
 * bounds those); the bound keeps the time_t cast below defined, and !(>= 0) refuses NaN too. */
static int clock_sleep(lua_State *L) {
    lua_Number seconds = errors_check_number(L, 1, "core.sleep", "seconds");
    if (!(seconds >= 0) || seconds > 86400)
        return errors_raise(L, "core.sleep", "bad argument 'seconds' (between 0 and 86400 expected)");
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (lua_Number)ts.tv_sec) * 1e9);
    /* A signal the `falcon` command caught ends the sleep: it is on its way out (terminal.c). */
    /* Any other interruption resumes with the time left (nanosleep writes it back into ts). */
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !terminal_signal_caught()) {
    }
    return 0;
}

void clock_register(lua_State *L, int module) {
    lua_pushcfunction(L, clock_now);
    lua_setfield(L, module, "now");
    lua_pushcfunction(L, clock_sleep);
    lua_setfield(L, module, "sleep");
}
