# falconlua — every task of the project starts here.
#   make demo     build, start the emulator, run a case workflow against it
#   make test     the whole suite (busted under lua5.4 and luajit, luacheck); ends "N passed, M failed"
#   make check-asan   the suite against an ASan+UBSan build of the C core
#   eval "$$(make -s env)"   LUA_PATH/LUA_CPATH for the in-tree build (VM=luajit for LuaJIT)

SHELL := /bin/bash
CC ?= cc
VM ?= lua5.4
BUILD := build
SRC := $(wildcard csrc/*.c)
HDR := $(wildcard csrc/*.h)
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CFLAGS_COMMON := -std=c99 -fPIC -fvisibility=hidden $(WARN) $(shell pkg-config --cflags libcurl 2>/dev/null)
# libhttp-parser reads responses for the cosocket driver (csrc/response.c); libyajl decodes JSON answers as
# they arrive (csrc/json_decode.c); zlib decodes compressed bodies (csrc/sink.c); libcrypto seals a fleet's
# shared token (csrc/tokenseal.c).
LIBS := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl) -lhttp_parser -lyajl -lz -lm -lcrypto
LUA54_INC := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUAJIT_INC := $(shell pkg-config --cflags luajit 2>/dev/null || echo -I/usr/include/luajit-2.1)
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Debian packages the project needs; `make deps` installs what is missing.
PACKAGES := lua5.4 liblua5.4-dev libcurl4-openssl-dev lua-cjson lua-busted lua-check nginx-light \
	libnginx-mod-http-lua luajit2 libluajit2-5.1-dev openssl curl pkg-config gcc libc6-dev make \
	clang libclang-rt-14-dev valgrind luarocks procps iproute2 libhttp-parser-dev zlib1g-dev ca-certificates libyajl-dev
# tmux, zsh: spec/cli_terminal_spec.lua drives the `falcon` command (and its completion) on a real terminal.
PACKAGES += tmux zsh
# haproxy: examples/haproxy runs the SDK in HAProxy's Lua (spec/haproxy_spec.lua).
PACKAGES += haproxy

# Lua 5.1, 5.2 and 5.3 (Debian's lua5.x, liblua5.x-dev) beside 5.4 and LuaJIT: each is built where its
# headers are, and spec/run runs the suite under each interpreter that is installed.
OLD_LUAS := lua5.1 lua5.2 lua5.3
PACKAGES += lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev
# A fleet on Redis (lua/falcon/fleet/init.lua): libcrypto's headers, the server the specs start, luasocket (+
# luasec for TLS) for plain Lua (inside nginx, cosockets: lua/falcon/fleet/redis.lua says why not lua-resty-redis).
PACKAGES += libssl-dev redis-server lua-socket lua-sec

.PHONY: all deps build env test check-asan check-valgrind fuzz fuzz-smoke demo emulator emulator-stop clean

# The allocator shim of `make torture` and its harness's Lua module per VM (spec/torture/): built with
# the rest, since spec/torture_spec.lua runs a part of the torture under each VM of the suite.
TORTURE := $(BUILD)/torture/shim.so $(BUILD)/torture/lua5.4/torture_control.so $(BUILD)/torture/luajit/torture_control.so \
	$(foreach v,$(OLD_LUAS),$(if $(wildcard /usr/include/$(v)/lua.h),$(BUILD)/torture/$(v)/torture_control.so))

all: build

deps:
	@tools/install-deps $(PACKAGES)

build: $(BUILD)/lua5.4/falcon/core.so $(BUILD)/luajit/falcon/core.so $(BUILD)/spec/connect_proxy \
	$(BUILD)/spec/hostile_server $(BUILD)/spec/wire_recorder $(TORTURE) \
	$(foreach v,$(OLD_LUAS),$(if $(wildcard /usr/include/$(v)/lua.h),$(BUILD)/$(v)/falcon/core.so))

$(BUILD)/lua5.4/falcon/core.so: $(SRC) $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O2 $(LUA54_INC) -shared -o $@ $(SRC) $(LIBS)

# LuaJIT's module: same sources, 5.1 API headers; no Lua library is linked (the host provides it).
$(BUILD)/luajit/falcon/core.so: $(SRC) $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O2 $(LUAJIT_INC) -shared -o $@ $(SRC) $(LIBS)

# Lua 5.1, 5.2, 5.3: the same sources, csrc/compat.h bridging the API.
$(BUILD)/lua5.%/falcon/core.so: $(SRC) $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O2 -I/usr/include/lua5.$* -shared -o $@ $(SRC) $(LIBS)

# A CONNECT proxy the specs start, for TLS through a proxy (spec/helpers/connect_proxy.lua).
$(BUILD)/spec/connect_proxy: spec/helpers/connect_proxy.c spec/helpers/announce.h
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -o $@ $<

# A scripted hostile HTTP/1.1 server the specs start (spec/helpers/hostile.lua); zlib makes its gzip bodies.
$(BUILD)/spec/hostile_server: spec/helpers/hostile_server.c spec/helpers/announce.h
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -o $@ $< -lz

# An HTTP/1.1 server that records every request as it arrived (spec/helpers/wire.lua, spec/wire_spec.lua).
$(BUILD)/spec/wire_recorder: spec/helpers/wire_recorder.c spec/helpers/announce.h
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -o $@ $<

$(BUILD)/asan/falcon/core.so: $(SRC) $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O1 -g $(SANITIZE) $(LUA54_INC) -shared -o $@ $(SRC) $(LIBS)

env:
	@echo 'export LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/?.lua;;"'
	@echo 'export LUA_CPATH="$(CURDIR)/$(BUILD)/$(VM)/?.so;;"'

# build in a second make: the Lua versions it builds for are found after deps installed them.
test: deps
	@$(MAKE) --no-print-directory build
	@spec/run

# Each target that runs specs builds in a second make, as `test` does: on a new machine the old Luas'
# headers only exist once deps has run (haproxy's Lua is 5.3; the suites start it).
check-asan: deps
	@$(MAKE) --no-print-directory build $(BUILD)/asan/falcon/core.so
	@spec/run --asan

# libFuzzer harnesses (csrc/fuzz/) for every C function that reads untrusted bytes.
FUZZERS := token headers headers_lua query mime_names response multipart_names json_decode seal resp_lua \
	event_lines
FUZZ_SECONDS ?= 60
FUZZ_SRC := csrc/token.c csrc/buffer.c csrc/secret.c csrc/headers.c csrc/query.c csrc/mime.c csrc/compat.c \
	csrc/response.c csrc/sink.c csrc/multipart.c csrc/transfer.c csrc/errors.c csrc/idle.c csrc/json_decode.c \
	csrc/json_body.c csrc/seal.c csrc/yajl_memory.c csrc/wire.c csrc/endpoint.c
$(BUILD)/fuzz/fuzz_%: csrc/fuzz/fuzz_%.c $(FUZZ_SRC) $(HDR)
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(LUA54_INC) -DFALCON_LUA_DIR='"$(CURDIR)/lua"' -o $@ $< $(FUZZ_SRC) \
		-llua5.4 -lcurl -lhttp_parser -lyajl -lz -lcrypto -lm

.PHONY: fuzzers
fuzzers: $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZERS))

fuzz: deps fuzzers
	@tools/fuzz $(FUZZ_SECONDS) $(FUZZERS)

# CI's smoke run: 10 s a harness (make fuzz: 60 s, the nightly length).
fuzz-smoke:
	@$(MAKE) -s fuzz FUZZ_SECONDS=10

check-valgrind: deps
	@$(MAKE) --no-print-directory build
	@spec/run --valgrind

# `make torture`: every allocation of the SDK calls of spec/torture/calls.lua failed in turn
# (spec/torture/README.md). Not part of `make test`; .ci/run runs a sample (TORTURE_SAMPLE=1).
$(BUILD)/torture/shim.so: spec/torture/shim.c spec/torture/shim.h
	@mkdir -p $(@D)
	$(CC) -std=gnu99 -O2 -fPIC -fvisibility=hidden $(WARN) -shared -o $@ $< -ldl -lpthread -lgcc_s

$(BUILD)/torture/lua5.4/torture_control.so: spec/torture/control.c spec/torture/shim.h
	@mkdir -p $(@D)
	$(CC) -std=c99 -O2 -fPIC $(WARN) $(LUA54_INC) -shared -o $@ $<

$(BUILD)/torture/luajit/torture_control.so: spec/torture/control.c spec/torture/shim.h
	@mkdir -p $(@D)
	$(CC) -std=c99 -O2 -fPIC $(WARN) $(LUAJIT_INC) -shared -o $@ $<

$(BUILD)/torture/lua5.%/torture_control.so: spec/torture/control.c spec/torture/shim.h
	@mkdir -p $(@D)
	$(CC) -std=c99 -O2 -fPIC $(WARN) -I/usr/include/lua5.$* -shared -o $@ $<

.PHONY: torture
torture: deps
	@$(MAKE) --no-print-directory build $(BUILD)/asan/falcon/core.so
	@spec/torture/run $(if $(TORTURE_SAMPLE),--sample)

demo: deps
	@$(MAKE) --no-print-directory build
	@tools/demo

emulator: deps
	@emulator/falcon-emulator start --dir $(BUILD)/emulator

emulator-stop:
	@emulator/falcon-emulator stop --dir $(BUILD)/emulator

# `make bench`: speed and memory figures against baselines taken in the same run (bench/README.md).
# lua-system gives the bench a monotonic clock on both VMs (busted pulls it in too).
PACKAGES += lua-system
BENCH_FLOOR := $(BUILD)/bench/floor

$(BENCH_FLOOR): bench/floor.c
	@mkdir -p $(@D)
	$(CC) -std=c99 -O2 $(WARN) $(shell pkg-config --cflags libcurl 2>/dev/null) -o $@ $< $(LIBS)

# The fleet figures (issue 18): a fleet on Redis against the emulator, beside the same fleet alone. (Not
# a sub-make: `make -n bench` must run nothing.)
FLEET_BENCH = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/?.lua;;" \
	LUA_CPATH="$(CURDIR)/$(BUILD)/lua5.4/?.so;;" lua5.4 bench/fleet.lua

# The case watch figures (issue 28): requests a falcon.CaseWatch spends, idle and per change.
WATCH_BENCH = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/?.lua;;" \
	LUA_CPATH="$(CURDIR)/$(BUILD)/lua5.4/?.so;;" lua5.4 bench/watch.lua

.PHONY: bench bench-fleet
bench: deps build $(BENCH_FLOOR)
	@bench/run
	@$(FLEET_BENCH)
	@$(WATCH_BENCH)

bench-fleet: deps build
	@$(FLEET_BENCH)

clean:
	rm -rf $(BUILD)
