# okq -- the two commands a new machine needs are `make run` and `make test`.
# Both install whatever Debian packages are missing first (`make deps`).

BUILD     ?= build
BUILDTYPE ?= RelWithDebInfo
JOBS      ?= $(shell nproc)
# gcc-multilib and nasm: the i386 nolibc programs, and the tutorial's own
# 32-bit programs that the tests run them against.
PACKAGES  := cmake ninja-build g++ make libcli11-dev libfmt-dev libgtest-dev libgmock-dev \
             libbenchmark-dev strace systemd logrotate liburing-dev pkg-config \
             dpkg-dev lintian haproxy prometheus libssl-dev openssl \
             gcc-multilib nasm libedit-dev tmux
# Only `make bench` needs these: the servers okq is compared with, and the chart.
BENCH_PACKAGES := python3 redis-server redis-tools memcached gnuplot-nox linux-perf
SUDO      := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all deps bench-deps install-missing build run test test-asan test-tsan bench soak fuzz lint format-check clean format install deb

all: build

# haproxy and prometheus are run by the tests, on free ports, as the tests'
# own processes. Installing them may start their packaged services on the
# default ports: those are stopped, but only right after this installed them
# (a machine's own haproxy or prometheus is left alone).
SERVICES := haproxy prometheus prometheus-node-exporter
deps:
	@fresh=$$(for p in haproxy prometheus; do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	$(MAKE) --no-print-directory install-missing PKGS="$(PACKAGES)" || exit 1; \
	if [ -n "$$fresh" ]; then for s in $(SERVICES); do \
	  if [ -d /run/systemd/system ]; then $(SUDO) systemctl disable --now $$s >/dev/null 2>&1; \
	  elif [ -x /etc/init.d/$$s ]; then $(SUDO) /etc/init.d/$$s stop >/dev/null 2>&1; fi; \
	done; fi; true

bench-deps:
	@$(MAKE) --no-print-directory install-missing PKGS="$(BENCH_PACKAGES)"
	@# The Debian packages start their own services on the default ports; the
	@# comparison runs its own instances on free ports, so stop those.
	@-$(SUDO) systemctl stop redis-server memcached 2>/dev/null || true

install-missing:
	@missing=$$(for p in $(PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# Developers and CI build with warnings as errors (OKQ_WERROR); CMake's own
# default is off, for packagers.
$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILDTYPE) -DOKQ_WERROR=ON $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/okq-server --foreground

# make install [PREFIX=/usr/local] [DESTDIR=...]: programs, manual pages, the
# systemd units (PREFIX/lib/systemd/system) and the logrotate file
# (PREFIX/etc/logrotate.d), all under PREFIX.
PREFIX ?= /usr/local
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

# The Debian package, $(BUILD)/okq_VERSION_ARCH.deb, made by CPack from the
# build's own objects (installed under /usr, so the units and the logrotate
# file go where Debian looks: /lib/systemd/system, /etc), checked by lintian.
deb: build
	cd $(BUILD) && cpack -G DEB
	lintian --fail-on error,warning $(BUILD)/okq_*.deb

test: build deb
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) --timeout 120

# okq-server beside redis-server and memcached (bench/compare), then the codec
# microbenchmarks. Writes bench/results/{table.md,runs.csv,summary.csv,throughput.png}.
bench: build bench-deps
	bench/compare --build $(BUILD) --out bench/results
	bench/relay-hops --build $(BUILD) --out bench/results
	bench/relay-vs-haproxy --build $(BUILD) --out bench/results
	bench/recv-bundles --build $(BUILD) --out bench/results
	bench/idle-memory --build $(BUILD) --out bench/results
	bench/many-idle --build $(BUILD) --out bench/results
	bench/tls-compare --build $(BUILD) --out bench/results
	./$(BUILD)/okq_codec_bench --benchmark_min_time=0.2 | tee bench/results/codec.txt

# The loss soak: 10 million messages, random contents and fragmentation, every
# reply checked; prints "lost: 0". SOAK_MESSAGES / SOAK_CONNECTIONS to change.
soak: build
	tests/soak/run-soak $(BUILD)

# libFuzzer on both codecs, FUZZ_SECONDS each (default 60). New inputs go to
# build-fuzz/corpus; a crash leaves crash-* files: save each under
# fuzz/regressions/<codec>/ so the unit tests replay it forever.
FUZZ_SECONDS ?= 60
fuzz:
	@$(MAKE) --no-print-directory install-missing PKGS="clang libclang-rt-14-dev"
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOKQ_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS)
	@for kind in line classic proxy; do \
	  mkdir -p build-fuzz/corpus/$$kind && \
	  echo "== fuzzing the $$kind codec for $(FUZZ_SECONDS) s" && \
	  (cd build-fuzz && ./okq_fuzz_$$kind corpus/$$kind ../fuzz/corpus/$$kind \
	     -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 2>&1 | \
	     grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==|SUMMARY)|Done [0-9]+ runs') || exit 1; \
	done

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer. ASan
# holds freed memory in a quarantine (256 MiB by default) to catch use after
# free; a 4 MiB one still does, and keeps the tests that bound the server's
# memory meaningful (the quarantine would otherwise count as growth).
test-asan: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOKQ_WERROR=ON -DOKQ_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=4 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS) --timeout 300

# The whole suite under ThreadSanitizer: the workers, the server's loop and the
# cross-thread queue between them. A report in any server child fails its test.
test-tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOKQ_WERROR=ON -DOKQ_TSAN=ON
	cmake --build build-tsan -j $(JOBS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --test-dir build-tsan --output-on-failure -j $(JOBS) --timeout 300

# clang-tidy over src/ and apps/ with the checks in .clang-tidy (bugs, not
# taste); any warning fails it. CI runs it, and format-check.
LINT_PACKAGES := clang-tidy clang-format
lint: build
	@$(MAKE) --no-print-directory install-missing PKGS="$(LINT_PACKAGES)"
	git ls-files 'src/*.cpp' 'apps/*.cpp' | \
	  xargs -P $(JOBS) -n 4 clang-tidy -p $(BUILD) --quiet --warnings-as-errors='*'

# Every C++ file as clang-format (.clang-format) would write it; `make format` fixes it.
format-check:
	@$(MAKE) --no-print-directory install-missing PKGS="$(LINT_PACKAGES)"
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')
