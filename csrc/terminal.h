/* terminal.h: core.terminal, what the `falcon` command needs from the OS (signals, echo, isatty). */
#ifndef FALCON_TERMINAL_H
#define FALCON_TERMINAL_H

#include <lua.h>

/* Adds the `terminal` table to the module table at index module. */
void terminal_register(lua_State *L, int module);

/* The signal core.terminal.catch_signals() caught, or 0: a sleep stops early once one was. */
int terminal_signal_caught(void);

#endif
