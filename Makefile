# luna: `make` builds the library, header and C examples; `make test` runs every test.
PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
CC ?= cc
CXX ?= c++
LUAJIT ?= luajit
TLS ?= 1

# cargo's target directory: one per way of building, because cargo rebuilds OpenSSL's
# bindings, native-tls and luna whenever the features or a build script's environment
# change. A build without TLS (other features) goes to target/notls; the LuaRocks build sets
# TARGET_DIR=target/rock (LuaRocks passes CC to make, and OpenSSL's build script reads it).
ifeq ($(TLS),0)
TARGET_DIR ?= target/notls
else
TARGET_DIR ?= target
endif

CARGO_FLAGS := --release --target-dir $(TARGET_DIR)
ifeq ($(TLS),0)
CARGO_FLAGS += --no-default-features
endif

BUILD := $(TARGET_DIR)/release
CFLAGS_EXAMPLES := -std=c99 -O2 -Wall -Wextra -Werror -Iinclude
LDFLAGS_EXAMPLES := -L$(BUILD) -lluna -Wl,-rpath,$(CURDIR)/$(BUILD)
EXAMPLES := build/echo_server build/client build/echo_client build/web_server

.PHONY: all lib examples test check-header setup demo demo-cluster bench bench-uws bench-web bench-resume bench-connections bench-room install uninstall clean fmt lint check-memory check-targets fuzz windows windows-lib windows-examples test-windows windows-luajit dist-windows

all: lib examples

# Installs missing build packages (pkg-config, libssl-dev, luajit) first; a no-op when present.
lib:
	@bash tests/setup.sh --build
	$(CARGO) build $(CARGO_FLAGS)
	@# Programs linked here record the soname: give it a name in the build directory too.
	@ln -sf libluna.so $(BUILD)/libluna.so.$(MAJOR)
	@# For C programs built from the checkout: PKG_CONFIG_PATH=$$PWD/build pkg-config luna
	@# finds this file (pkg-config prefers NAME-uninstalled.pc); its rpath finds the library.
	@mkdir -p build
	@sed -e 's|@PREFIX@|$(CURDIR)|' -e 's|@LIBDIR@|$(CURDIR)/$(BUILD)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|^Libs: .*|Libs: -L$${libdir} -Wl,-rpath,$${libdir} -lluna|' luna.pc.in > build/luna-uninstalled.pc

examples: lib $(EXAMPLES)

build/%: c-examples/%.c include/luna.h | lib
	@mkdir -p build
	$(CC) $(CFLAGS_EXAMPLES) $< -o $@ $(LDFLAGS_EXAMPLES)

# C++ examples: the same header, as C++11.
build/%: c-examples/%.cpp include/luna.h | lib
	@mkdir -p build
	$(CXX) -std=c++11 -O2 -Wall -Wextra -Werror -Iinclude $< -o $@ $(LDFLAGS_EXAMPLES)

# The committed header must equal a fresh generation, and compile as C99 and as C++.
check-header: lib
	git diff --exit-code -- include/luna.h || { echo "include/luna.h differs from the generated one: commit it"; exit 1; }
	printf '#include "luna.h"\nint main(void){return 0;}\n' | $(CC) -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -x c - -fsyntax-only
	printf '#include "luna.h"\nint main(){return 0;}\n' | $(CXX) -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -x c++ - -fsyntax-only

# Installs what the tests need (system packages, a Python venv, npm packages).
setup:
	bash tests/setup.sh

test: setup all
	bash tests/run.sh

# The C echo server under valgrind memcheck during thousands of connect/echo/close cycles
# (tests/soak/check_memory.sh; CHECK_MEMORY_CYCLES, default 5000). Fails on any invalid
# access or leak; tests/soak/valgrind.supp lists (and explains) the suppressions. Takes about
# 16 s on 2 vCPUs; `make test` runs it with 1000 cycles (about 5 s).
check-memory: examples
	bash tests/soak/check_memory.sh

# Fuzzes each target of fuzz/ (frame decoder, extension parser, inflater, request-head parser)
# for FUZZ_SECONDS with AFL++ through cargo-afl on stable Rust, installing both first if
# needed; fails on any crash.
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# Type-checks and lints the library for Windows and macOS (with and without TLS); needs
# rustup and its download server, so it is not part of `make test`.
CROSS_TARGETS ?= x86_64-pc-windows-gnu aarch64-apple-darwin
check-targets:
	rustup target add $(CROSS_TARGETS)
	for t in $(CROSS_TARGETS); do \
		$(CARGO) clippy --lib --target $$t -- -D warnings && \
		$(CARGO) clippy --lib --target $$t --no-default-features -- -D warnings || exit 1; \
	done

# Windows (x86_64, built here with mingw-w64; tests/windows/README.md): luna.dll, its import
# library libluna.dll.a and the static libluna.a in $(WIN_BUILD), the C examples as .exe in
# build/windows/ (next to a copy of luna.dll). Installs the Rust target and mingw-w64 first.
WIN_TARGET := x86_64-pc-windows-gnu
WIN_BUILD := $(TARGET_DIR)/$(WIN_TARGET)/release
WIN_CC ?= x86_64-w64-mingw32-gcc
WIN_EXAMPLES := build/windows/echo_server.exe build/windows/client.exe build/windows/web_server.exe

windows: windows-lib windows-examples

windows-lib:
	@bash tests/windows/setup.sh --build
	$(CARGO) build $(CARGO_FLAGS) --target $(WIN_TARGET)

windows-examples: windows-lib $(WIN_EXAMPLES)
	cp $(WIN_BUILD)/luna.dll build/windows/luna.dll

build/windows/%.exe: c-examples/%.c include/luna.h | windows-lib
	@mkdir -p build/windows
	$(WIN_CC) $(CFLAGS_EXAMPLES) $< -o $@ -L$(WIN_BUILD) -lluna -lshell32

# A Windows LuaJIT (luajit.exe + lua51.dll) cross-built from Debian's luajit source package,
# cached in build/luajit-win/ (tests/windows/luajit.sh).
windows-luajit:
	bash tests/windows/luajit.sh

# The release zip for LÖVE developers: build/dist/luna-$(VERSION)-windows-x86_64.zip.
dist-windows: windows
	bash tests/windows/dist.sh $(VERSION)

# Test-only programs (never in the zip): luna_app_fd's SOCKET under select().
build/windows/app_fd.exe: tests/windows/app_fd.c include/luna.h | windows-lib
	@mkdir -p build/windows
	$(WIN_CC) $(CFLAGS_EXAMPLES) $< -o $@ -L$(WIN_BUILD) -lluna -lws2_32

# Runs luna.dll under Wine against Linux-side peers (tests/windows/run.sh): the C examples,
# the Lua suites under a Windows LuaJIT, wss:// through SChannel, all from the unpacked
# release zip. Not part of `make test` (see tests/windows/README.md for how long it takes).
test-windows: dist-windows build/windows/app_fd.exe
	bash tests/windows/setup.sh
	bash tests/windows/run.sh

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
LUADIR ?= $(PREFIX)/share/lua/5.1
LIBDIR ?= $(PREFIX)/lib
JSDIR ?= $(PREFIX)/share/luna
# LuaRocks moves installed files around, which breaks symlinks: it installs one plain file.
SONAME_LINKS ?= 1
INSTALLED := $(DESTDIR)$(LIBDIR)/libluna.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libluna.so.$(MAJOR) \
	$(DESTDIR)$(LIBDIR)/libluna.so $(DESTDIR)$(LIBDIR)/libluna.a \
	$(DESTDIR)$(PREFIX)/include/luna.h $(DESTDIR)$(LIBDIR)/pkgconfig/luna.pc \
	$(DESTDIR)$(JSDIR)/luna.js

# Installs the library (versioned soname), header, pkg-config file, Lua modules and the
# browser client (luna.js, in $(JSDIR)).
install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(LUADIR)/luna $(DESTDIR)$(LUADIR)/lunac
ifeq ($(SONAME_LINKS),0)
	install -m 755 $(BUILD)/libluna.so $(DESTDIR)$(LIBDIR)/libluna.so
else
	install -m 755 $(BUILD)/libluna.so $(DESTDIR)$(LIBDIR)/libluna.so.$(VERSION)
	ln -sf libluna.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libluna.so.$(MAJOR)
	ln -sf libluna.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libluna.so
endif
	install -m 644 $(BUILD)/libluna.a $(DESTDIR)$(LIBDIR)/libluna.a
	install -m 644 include/luna.h $(DESTDIR)$(PREFIX)/include/luna.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' luna.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/luna.pc
	install -m 644 ffi-lua/luna/*.lua $(DESTDIR)$(LUADIR)/luna/
	install -m 644 ffi-lua/lunac/*.lua $(DESTDIR)$(LUADIR)/lunac/
	echo 'return "$(LIBDIR)"' > $(DESTDIR)$(LUADIR)/luna/libdir.lua
	install -d $(DESTDIR)$(JSDIR)
	install -m 644 js/luna.js $(DESTDIR)$(JSDIR)/luna.js
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

uninstall:
	rm -f $(INSTALLED)
	rm -f $(addprefix $(DESTDIR)$(LUADIR)/luna/,$(notdir $(wildcard ffi-lua/luna/*.lua)) libdir.lua)
	rm -f $(addprefix $(DESTDIR)$(LUADIR)/lunac/,$(notdir $(wildcard ffi-lua/lunac/*.lua)))
	-rmdir $(DESTDIR)$(LUADIR)/luna $(DESTDIR)$(LUADIR)/lunac $(DESTDIR)$(JSDIR) 2>/dev/null

demo: all
	bash examples/demo.sh

# Two chat nodes (ports PORT and PORT+1, default 8765) sharing a Redis (REDIS_PORT, default
# 6390): a tab on each node's page, and they chat through Redis.
demo-cluster: all
	@command -v redis-server >/dev/null || bash tests/setup.sh
	bash examples/demo_cluster.sh

# Benchmarks (bench/README.md): builds the servers and the load generator, installs the peers,
# then prints two tables (the modes, and compression); BENCH_* variables scale them. They are also kept in build/bench/.
bench: all
	bash bench/setup.sh
	$(CARGO) build --release -p luna-bench
	@mkdir -p build/bench
	timeout 1500 target/release/luna-bench suite > build/bench/results.md && cat build/bench/results.md

# uWebSockets beside luna in `make bench` (it is in no package registry): UWS_DIR is a checkout
# of github.com/uNetworking/uWebSockets with uSockets in its uSockets/ folder.
bench-uws:
	@test -n "$(UWS_DIR)" || { echo "make bench-uws: set UWS_DIR to a checkout of uWebSockets (with uSockets/)"; exit 2; }
	$(MAKE) -C $(UWS_DIR)/uSockets
	@mkdir -p build
	$(CXX) -std=c++20 -O3 -flto=auto -DLIBUS_NO_SSL -DUWS_NO_ZLIB -I$(UWS_DIR)/src -I$(UWS_DIR)/uSockets/src \
		bench/servers/uws_echo.cpp $(UWS_DIR)/uSockets/*.o -o build/uws_echo

# luna as a web server (bench/README.md, "Web"): a 1 KiB static file under wrk beside nginx and
# Node's http, and WebSocket handshakes/s with and without on_upgrade. Kept in build/bench/web.md.
# What session resume costs (bench/resume_costs.lua): cut to first replayed message, and
# memory per paused session.
bench-resume: all setup
	luajit bench/resume_costs.lua

# 19,000 idle connections in one server (bench/README.md, "Connections"): memory per connection
# (the server's and the kernel's), handshakes/s, a ping sweep, memory after a mass reset.
bench-connections: all
	bash bench/setup.sh
	$(CARGO) build --release -p luna-bench
	@mkdir -p build/bench
	timeout 900 target/release/luna-bench connections > build/bench/connections.md && cat build/bench/connections.md

# A chat room's fan-out (bench/README.md, "Room"): N clients each sending at a fixed rate,
# every message to all N; deliveries/s, CPU per delivery, delivery latency, completeness.
bench-room: all
	bash bench/setup.sh
	$(CARGO) build --release -p luna-bench
	@mkdir -p build/bench
	timeout 600 target/release/luna-bench room > build/bench/room.md && cat build/bench/room.md

bench-web: all
	bash bench/setup.sh
	$(CARGO) build --release -p luna-bench
	@mkdir -p build/bench
	timeout 900 target/release/luna-bench web > build/bench/web.md && cat build/bench/web.md

clean:
	$(CARGO) clean
	rm -rf build
