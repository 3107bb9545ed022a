# luna: `make` builds the library, header and C examples; `make test` runs every test.
PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
CC ?= cc
CXX ?= c++
LUAJIT ?= luajit
TLS ?= 1

CARGO_FLAGS := --release
ifeq ($(TLS),0)
CARGO_FLAGS += --no-default-features
endif

LIBDIR := target/release
CFLAGS_EXAMPLES := -std=c99 -O2 -Wall -Wextra -Werror -Iinclude
LDFLAGS_EXAMPLES := -L$(LIBDIR) -lluna -Wl,-rpath,$(CURDIR)/$(LIBDIR)
EXAMPLES := build/echo_server build/client

.PHONY: all lib examples test check-header setup demo bench install uninstall clean fmt lint

all: lib examples

lib:
	$(CARGO) build $(CARGO_FLAGS)

examples: lib $(EXAMPLES)

build/%: c-examples/%.c include/luna.h | lib
	@mkdir -p build
	$(CC) $(CFLAGS_EXAMPLES) $< -o $@ $(LDFLAGS_EXAMPLES)

# The committed header must equal a fresh generation, and compile as C99 and as C++.
check-header: lib
	git diff --exit-code -- include/luna.h || { echo "include/luna.h differs from the generated one: commit it"; exit 1; }
	printf '#include "luna.h"\nint main(void){return 0;}\n' | $(CC) -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -x c - -fsyntax-only
	printf '#include "luna.h"\nint main(){return 0;}\n' | $(CXX) -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -x c++ - -fsyntax-only

# Installs what the tests need (system packages, a Python venv, npm packages).
setup:
	bash tests/setup.sh

test: all
	bash tests/run.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

demo: all
	bash examples/demo.sh

clean:
	$(CARGO) clean
	rm -rf build
