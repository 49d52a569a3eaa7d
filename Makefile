# Front door. The two README commands are `make demo` and `make test`;
# both do their own set-up (scripts/bootstrap.sh) and are idempotent.
VPY := .venv/bin/python
CC ?= cc
CORE_SRC := $(wildcard csrc/core/*.c)
CTEST_SRC := $(wildcard csrc/tests/*.c)
CORE_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Icsrc/core $(shell pkg-config --cflags libcurl libcjson 2>/dev/null)
CORE_LIBS := $(shell pkg-config --libs libcurl libcjson 2>/dev/null) -lpthread -lm
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: demo test setup setup-test build ctest ctest-asan ctest-valgrind pytest clean

demo: setup
	$(VPY) -m b24hook.demo

test: setup-test
	$(MAKE) --no-print-directory ctest ctest-asan ctest-valgrind
	$(VPY) -m pytest $(PYTEST_ARGS)

setup:
	@scripts/bootstrap.sh demo

setup-test:
	@scripts/bootstrap.sh test

build: setup

build/ctest: $(CORE_SRC) $(CTEST_SRC) $(wildcard csrc/core/*.h csrc/tests/*.h)
	@mkdir -p build
	$(CC) $(CORE_CFLAGS) -O1 -g -gdwarf-4 -o $@ $(CTEST_SRC) $(CORE_SRC) $(CORE_LIBS)

build/ctest-asan: $(CORE_SRC) $(CTEST_SRC) $(wildcard csrc/core/*.h csrc/tests/*.h)
	@mkdir -p build
	$(CC) $(CORE_CFLAGS) -O1 -g $(SAN) -o $@ $(CTEST_SRC) $(CORE_SRC) $(CORE_LIBS)

# The core's own tests, without Python: plain, under ASan+UBSan, under valgrind.
ctest: build/ctest
	./build/ctest

ctest-asan: build/ctest-asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./build/ctest-asan

ctest-valgrind: build/ctest
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=1 ./build/ctest

clean:
	rm -rf build b24hook/_core*.so *.egg-info

# Benchmarks (bench/, docs/benchmarks.md): b24hook against the C floor, the JS SDK
# and the Python peers. The bench installs what it compares into .cache/bench/.
.PHONY: bench bench-quick
bench: setup
	$(VPY) -m bench

bench-quick: setup
	$(VPY) -m bench --quick
