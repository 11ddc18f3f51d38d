-- luacheck configuration: Lua 5.4 and LuaJIT code side by side.
std = "max"
max_line_length = 132
codes = true
files["spec/**/*.lua"] = { std = "+busted" }
files["emulator/**/*.lua"] = { std = "+ngx_lua", globals = { "ngx" } }
files["bench/**/*.lua"] = { globals = { "ngx" } }
exclude_files = { "build/**", "lua/falcon/endpoints/**" }
