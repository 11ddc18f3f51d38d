/* tokenshare.h: moving the client's token in and out of C for sharing between nginx workers. */
#ifndef FALCON_TOKENSHARE_H
#define FALCON_TOKENSHARE_H

#include <lua.h>

/* Adds share_tokens, adopt_token and export_token to the client's methods. */
void tokenshare_register(lua_State *L);

#endif
