-- luacheck configuration: Lua 5.4 and LuaJIT code side by side.
std = "max"
max_line_length = 132
codes = true
files["spec/**/*.lua"] = { std = "+busted" }
files["emulator/**/*.lua"] = { std = "+ngx_lua", globals = { "ngx" } }
files["bench/**/*.lua"] = { globals = { "ngx" } }
files["examples/haproxy/*.lua"] = { read_globals = { "core" } } -- HAProxy's Lua API
-- Generated operation tables: one record per line, as long as the record is.
files["lua/falcon/endpoints"] = { max_line_length = false }
files["tools/falconpy_names.lua"] = { max_line_length = false } -- generated: one class per line
-- Generated LuaCATS stubs: empty method bodies, one annotation per line however long.
files["types"] = { unused_args = false, max_line_length = false, ignore = { "241" } }
exclude_files = { "build/**" }
