# Front door. The two README commands are `make demo` and `make test`;
# both do their own set-up (scripts/bootstrap.sh) and are idempotent.
VPY := .venv/bin/python
CC ?= cc
CORE_SRC := $(wildcard csrc/core/*.c)
CTEST_SRC := $(wildcard csrc/tests/*.c)
CORE_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Icsrc/core $(shell pkg-config --cflags libcurl libcjson hiredis 2>/dev/null)
CORE_LIBS := $(shell pkg-config --libs libcurl libcjson hiredis 2>/dev/null) -lpthread -lm
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: demo test setup setup-test build docs wheel ctest ctest-asan ctest-valgrind pytest clean \
	asan asan-build asan-pytest valgrind valgrind-pytest fuzz fuzz-build fuzz-smoke tsan

demo: setup
	$(VPY) -m b24hook.demo

# The whole suite: the static typing checks, the C core's tests (plain,
# ASan+UBSan, valgrind), the hardening runs (Python subsets under ASan and
# valgrind, fuzz smoke, TSan), then the full pytest suite last, so its
# summary closes the output.
test: setup-test
	$(MAKE) --no-print-directory typecheck
	$(MAKE) --no-print-directory ctest ctest-asan ctest-valgrind
	$(MAKE) --no-print-directory hardening-ci
	$(MAKE) --no-print-directory docs
	$(VPY) -m pytest $(PYTEST_ARGS)

setup:
	@scripts/bootstrap.sh demo

# Static typing (issue 13 item 2): mypy --strict on the whole package (the
# configuration is [tool.mypy] in pyproject.toml), then stubtest: the stub
# b24hook/_core.pyi against the built extension.
.PHONY: typecheck
typecheck: setup-test
	$(VPY) -m mypy
	$(VPY) -m mypy.stubtest --mypy-config-file pyproject.toml b24hook._core

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

# ---- hardening (issue 6; docs/security.md) --------------------------------
# The CI part of `make test`: a Python subset against the ASan+UBSan build,
# a Python subset under valgrind, a 10 s smoke of every fuzz target, the
# handle pool under TSan.  About 4-5 minutes on 2 cores.
.PHONY: hardening-ci
hardening-ci:
	$(MAKE) --no-print-directory asan-pytest valgrind-pytest fuzz-smoke tsan

# ASan+UBSan build of the extension, staged in build/asan (a copy of the
# package plus the instrumented _core) so the in-place .so other runs use
# is never replaced.  CPython itself is not instrumented: the runtime is
# LD_PRELOADed and leak detection is off (the interpreter's own allocations).
ASAN_RT := $(shell gcc -print-file-name=libasan.so 2>/dev/null)
ASAN_PY_TESTS ?= tests/test_core_convert.py tests/test_core_url.py tests/test_core_isolation.py \
	tests/test_core_transport.py tests/test_redaction.py tests/test_client_calls.py tests/hardening \
	tests/test_client_pipeline.py tests/test_concurrency.py tests/test_walks_scripted.py tests/test_async.py \
	tests/test_async_actions.py tests/test_shared_limiter.py tests/test_export_plan.py tests/test_write_jobs.py
ASAN_ENV := LD_PRELOAD=$(ASAN_RT) ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_init_order=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 PYTHONPATH=$(CURDIR)/build/asan:$(CURDIR) B24HOOK_EXPECT_SANITIZED=1

asan-build: setup-test
	@rm -rf build/asan && mkdir -p build/asan build/asan-tmp
	@tar -C . --exclude='__pycache__' --exclude='*.so' -cf - b24hook | tar -C build/asan -xf -
	B24HOOK_SANITIZE=1 B24HOOK_WERROR=1 CC=gcc $(VPY) setup.py -q build_ext --build-lib build/asan \
		--build-temp build/asan-tmp >/dev/null

# -P: the working directory does not shadow build/asan on sys.path (the
# repository comes after it on PYTHONPATH, for `from tests.conftest import`).
asan-pytest: asan-build
	$(ASAN_ENV) $(VPY) -P -m pytest -q -p no:cacheprovider -m "not cpu_bound" $(ASAN_PY_TESTS)

asan: ctest-asan asan-pytest

# Valgrind: the C tests (full memcheck), then a Python subset with
# PYTHONMALLOC=malloc: invalid reads/writes, use-after-free, double and
# mismatched frees are errors; leak checking and uninitialised-value
# tracking are off for the interpreter (this CPython seeds `random` from
# getrandom() bytes memcheck cannot see as defined: ~500 false reports from
# `import random` alone).
VALGRIND_PY_TESTS ?= tests/test_core_convert.py tests/test_core_url.py tests/test_redaction.py \
	tests/hardening/test_json_caps.py tests/test_client_pipeline.py tests/test_walks_scripted.py
valgrind-pytest: setup-test
	PYTHONPATH=$(CURDIR) PYTHONMALLOC=malloc valgrind -q --error-exitcode=1 --leak-check=no --undef-value-errors=no \
		--suppressions=tests/hardening/valgrind-python.supp \
		$(VPY) -P -m pytest -q -p no:cacheprovider -p no:faulthandler $(VALGRIND_PY_TESTS)

valgrind: ctest-valgrind valgrind-pytest

# libFuzzer targets (clang).  Seeds live in csrc/fuzz/corpus/<t> (read
# only); what the fuzzer finds goes to build/fuzz/corpus-<t>, crashes to
# build/fuzz/crash-<t>-*.  `make fuzz FUZZ_SECONDS=600` for a long run.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS := json envelope url redact convert $(if $(wildcard csrc/core/b24_qs.c),qs)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Icsrc/core $(shell pkg-config --cflags libcurl libcjson hiredis 2>/dev/null)
PY_INC = $(shell $(VPY) -c "import sysconfig;print(sysconfig.get_paths()['include'])")
PY_LIBDIR = $(shell $(VPY) -c "import sysconfig;print(sysconfig.get_config_var('LIBDIR'))")
PY_LDLIB = $(shell $(VPY) -c "import sysconfig;print('python'+sysconfig.get_config_var('LDVERSION'))")

build/fuzz/fuzz_%: csrc/fuzz/fuzz_%.c $(CORE_SRC) $(wildcard csrc/core/*.h) csrc/tests/outcome_same.h
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -o $@ $< $(CORE_SRC) $(CORE_LIBS)

build/fuzz/fuzz_convert: csrc/fuzz/fuzz_convert.c csrc/ext/convert.c csrc/ext/status.c $(CORE_SRC) $(wildcard csrc/core/*.h csrc/ext/*.h)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Icsrc/ext -I$(PY_INC) $(FUZZ_SAN) -o $@ $< csrc/ext/convert.c \
		csrc/ext/status.c csrc/core/b24_json.c csrc/core/b24_buf.c $(CORE_LIBS) \
		-L$(PY_LIBDIR) -Wl,-rpath,$(PY_LIBDIR) -l$(PY_LDLIB) -ldl -lutil

fuzz-build: $(addprefix build/fuzz/fuzz_,$(FUZZ_TARGETS))

# One run per target; a crash stops make with the reproducer's path.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t; \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
		PYTHONMALLOC=malloc ./build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
			-timeout=10 -rss_limit_mb=4096 -print_final_stats=1 -detect_leaks=$$([ $$t = convert ] && echo 0 || echo 1) \
			-dict=csrc/fuzz/json.dict -artifact_prefix=build/fuzz/crash-$$t- \
			build/fuzz/corpus-$$t csrc/fuzz/corpus/$$t 2>build/fuzz/$$t.log \
			|| { tail -n 40 build/fuzz/$$t.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' build/fuzz/$$t.log | tail -n 1; \
	done

fuzz-smoke:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

# ThreadSanitizer: 16 threads share one b24_http (its handle pool, the
# shared DNS/TLS cache, the connection counter) against a local server.
build/tsan-pool: csrc/fuzz/stress_pool.c $(CORE_SRC) $(wildcard csrc/core/*.h)
	@mkdir -p build
	$(FUZZ_CC) $(FUZZ_CFLAGS) -g -O1 -fsanitize=thread -o $@ $< $(CORE_SRC) $(CORE_LIBS)

tsan: build/tsan-pool
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/csrc/fuzz/tsan.supp" \
		./build/tsan-pool

# The documentation site (mkdocs.yml) into build/site, warnings as errors:
# every page of docs/, the API reference from the docstrings, the notebook
# executed against its own emulator portal.  Open build/site/index.html.
# (No --quiet: it silences the warnings that --strict counts.)
docs: setup-test
	NO_MKDOCS_2_WARNING=1 $(VPY) -m mkdocs build --strict --clean

# An sdist and a manylinux wheel in dist/: the wheel is built from the sdist,
# then `auditwheel repair` copies libcurl, libcjson and what they link into
# b24hook.libs/ and tags it for the oldest glibc its symbols allow.
# -P: the repository's build/ folder must not shadow the `build` package.
wheel: setup-test
	@rm -rf build/wheel-raw dist && mkdir -p dist
	$(VPY) -P -m build --outdir build/wheel-raw .
	PATH=$(CURDIR)/.venv/bin:$$PATH $(VPY) -P -m auditwheel repair -w dist build/wheel-raw/*.whl
	cp build/wheel-raw/*.tar.gz dist/
	@ls -l dist

clean:
	rm -rf build dist b24hook/_core*.so *.egg-info

# Benchmarks (bench/, docs/benchmarks.md): b24hook against the C floor, the JS SDK
# and the Python peers. The bench installs what it compares into .cache/bench/.
.PHONY: bench bench-quick
bench: setup
	$(VPY) -m bench

bench-quick: setup
	$(VPY) -m bench --quick
