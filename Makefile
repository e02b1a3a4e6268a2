# A thin wrapper over CMake. `make run` boots the default guest; `make test` runs every test.
# MODE=debug builds in build-debug with -O0 and the internal debug checks on.
MODE ?= release
JOBS ?= 2
# MODE=asan (AddressSanitizer + UndefinedBehaviorSanitizer), MODE=tsan (ThreadSanitizer) and
# MODE=ubsan build in build-asan, build-tsan, build-ubsan (docs/hardening.md "Sanitizers").
SANITIZE_asan := address,undefined
SANITIZE_tsan := thread
SANITIZE_ubsan := undefined
# The clang tree of the fuzzers and of CI's sanitizer subset (test-sanitize, fuzz-smoke, below).
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
# More libFuzzer flags for fuzz-smoke. FUZZ_FIXED=1 is CI's run: seed 1 and a fixed number of
# executions per harness (fuzz_smoke.py --fixed), the same amount of fuzzing on every machine
# down the same mutation sequence (as far as the harnesses are deterministic), so a local
# `make fuzz-smoke FUZZ_FIXED=1` nearly repeats CI's; FUZZ_SECONDS is then only a ceiling
# (docs/hardening.md "In CI").
FUZZ_FLAGS ?=
FUZZ_FIXED ?=
ifeq ($(MODE),debug)
BUILD ?= build-debug
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Debug -DSOFTCPU_WERROR=ON
else ifneq ($(SANITIZE_$(MODE)),)
BUILD ?= build-$(MODE)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOFTCPU_WERROR=ON -DSOFTCPU_SANITIZE=$(SANITIZE_$(MODE))
else
BUILD ?= build
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOFTCPU_WERROR=ON
endif

.PHONY: all deps configure build guest run run-demo test test-asan test-tsan test-tsan-linux test-ubsan \
        test-sanitize bench clean fuzz-smoke

all: build

deps:
	@tools/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# The default guest: Debian i386 Linux with a busybox shell on a raw disk image, built from
# Debian's packages (tools/guest/build-image.sh; cached under $(BUILD)/guest).
guest:
	tools/guest/build-image.sh $(BUILD)/guest

# Boot the default guest through SeaBIOS from its disk; the shell is on this terminal.
# `poweroff -f` in the guest (or Ctrl-A x) ends it.
run: deps configure guest
	cmake --build $(BUILD) -j $(JOBS) --target softcpu
	$(BUILD)/softcpu run $(BUILD)/guest/disk.img

# The demo ROM: prints to COM1 and exits through the debug-exit port (status 1, QEMU's way).
run-demo: deps configure
	cmake --build $(BUILD) -j $(JOBS) --target softcpu demo_rom
	@$(BUILD)/softcpu run --bios $(BUILD)/demo.rom; s=$$?; [ $$s -eq 1 ] || [ $$s -eq 0 ] || exit $$s

test: build guest
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

# The sanitizer suites (docs/hardening.md "Sanitizers"): build MODE=asan/tsan/ubsan and run a
# subset of the tests there, with the normal build's guest images (build/guest, linked).
# ASan+UBSan and UBSan: every unit test in one process, the guest programs, the native oracle
# at 100 cases per form in both tiers, the command line, the gdb stub, one Linux boot (JIT on).
# ASan+UBSan and UBSan also run every unit test with the CPU harness compiling each block
# (unit_tests_jit), and build only the targets their tests need (SAN_CI_TARGETS, below).
SAN_TESTS_asan := ^(unit_tests|unit_tests_jit|guest\..*|native_oracle|native_oracle_jit|cli|gdb|linux\.shell_direct|linux\.screen_dump)$$
SAN_TESTS_ubsan := $(SAN_TESTS_asan)
SAN_TARGETS_asan = $(SAN_CI_TARGETS)
SAN_TARGETS_ubsan = $(SAN_CI_TARGETS)
test-asan test-ubsan: test-%:
	$(MAKE) MODE=release guest
	$(MAKE) MODE=$* configure
	cmake --build build-$* -j $(JOBS) $(if $(SAN_TARGETS_$*),--target $(SAN_TARGETS_$*))
	ln -sfn $(CURDIR)/build/guest build-$*/guest
	cd build-$* && ctest --output-on-failure -j $(JOBS) --timeout 1800 -R '$(SAN_TESTS_$*)'

# ThreadSanitizer (docs/hardening.md "ThreadSanitizer"): what runs on more than one thread, built
# alone (not all of `all`: softcpu_unit_tests would take most of an hour under TSan here). The
# threaded unit tests in their own binary (unit_tests_threads: the translator's compile thread,
# partitions on their threads, the primary's command and run queues, the libuv loop thread and
# its TCP/char/block backends); the hypervisor tests (monitor console, secondary, isolation,
# discovery, two Linux partitions, 2-vCPU partitions on two threads and on both hypervisors);
# two CPUs (smp_counter, and the smp guests with a thread per CPU, interpreted and with each
# CPU thread's own JIT: _threads_jit, _threads_jit_sync); the gdb stub on the loop thread;
# the --stats-interval and --profile sampler threads over the JIT's compile thread; the native
# oracle compiled (compile thread); Linux at its shell with the JIT on, from a snapshot the
# release build's softcpu takes (SOFTCPU_SNAPSHOT_MAKER; linux.snapshot_loadvm: a command on
# the serial console through the loop thread, gdb's savevm and loadvm, power-off).
TSAN_TARGETS := softcpu softcpu_thread_tests oracle_main hv_isolation_test hv_two_linux \
                hv_secondary_test hv_secondary_pool_test hv_cross_partition_test \
                hv_secondary_smp_test hv_discovery_test hv_smp_test hv_both_test guest_roms \
                guest_platform_roms \
                bench_rom
TSAN_TESTS := ^(unit_tests_threads|hv\..*|guest\.platform\.smp_counter|guest\.platform\.smp_.*_threads(_jit|_jit_sync)?|gdb|stats_series|profile|native_oracle_jit|linux\.snapshot_loadvm)$$
# Whole Linux boots are not run here: under TSan on this 2-core host a boot needs 30-40 minutes
# (linux.shell_direct, which this list had, reached 43 s of guest time in its 600 s, before
# the initramfs; hv.two_linux's partitions stopped at their 300 s timeout, 160 M instructions
# each: docs/hardening.md "ThreadSanitizer"). Their threads run here from snapshots instead:
# linux.snapshot_loadvm (the single machine) and hv.linux_smp2_bringup (a 2-vCPU partition).
# Left out: hv.linux_smp2_threads (a 2-vCPU Linux partition on two threads booting to its command)
# and hv.linux_smp2_both (the same with vCPU 1 on the secondary hypervisor), for the same reason.
# Their SMP part runs instead in hv.linux_smp2_bringup (in hv\..*): Linux's SMP bring-up on the
# two vCPU threads, from a snapshot the release build's hv_two_linux takes just before it
# (HV_SNAPSHOT_MAKER; tests/hv/linux/smp2_bringup.sh).
# Under TSan it is too slow, not hung: roughly 28x the release build's host CPU per guest
# instruction (estimated; guest RAM accesses are instrumented atomics), so its 2.6 G
# instructions need ~40 min of this loaded host; measured, 335 M instructions (still decompressing, no console
# output) when its 300 s partition timeout ended it, after ctest's 300 s. The 2-vCPU partitions
# on threads run under TSan in hv.smp_threads (docs/hardening.md "ThreadSanitizer"). The whole
# boots hv.linux_smp2_threads and hv.two_linux run under TSan in `make test-tsan-linux` (below).
TSAN_EXCLUDE := ^hv\.(linux_smp2_(threads|both)|two_linux)$$
test-tsan:
	$(MAKE) MODE=release guest
	$(MAKE) MODE=release configure
	cmake --build build -j $(JOBS) --target hv_two_linux softcpu
	$(MAKE) MODE=tsan configure
	cmake --build build-tsan -j $(JOBS) --target $(TSAN_TARGETS)
	ln -sfn $(CURDIR)/build/guest build-tsan/guest
	cd build-tsan && HV_SNAPSHOT_MAKER=$(CURDIR)/build/tests/hv/hv_two_linux \
	  SOFTCPU_SNAPSHOT_MAKER=$(CURDIR)/build/softcpu \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800 --no-tests=error \
	  -R '$(TSAN_TESTS)' -E '$(TSAN_EXCLUDE)'

# Whole Linux boots under ThreadSanitizer, outside test-tsan's time (docs/hardening.md "The
# secondary's tests and whole Linux boots"): hv.linux_smp2_threads (one 2-vCPU partition on two
# host threads boots, brings both CPUs online, runs its command and powers off) and
# hv.two_linux (two partitions on their own threads, one with a disk). In build-tsan each partition's timeout is
# 5400 s and ctest's 5700 s (tests/hv/CMakeLists.txt): TSan costs the interpreter ~30x the
# release build's CPU per guest instruction, so these take tens of minutes of CPU each. And
# linux.smp2_threads_jit (-smp 2 on two threads with each CPU thread's JIT, direct boot to the
# shell, its command, power-off): compiled code runs uninstrumented, so it took 558 s of wall
# on the loaded host (docs/design.md "Tier 1 on CPU threads").
TSAN_LINUX_TESTS := ^(hv\.(linux_smp2_threads|two_linux)|linux\.smp2_threads_jit)$$
test-tsan-linux:
	$(MAKE) MODE=release guest
	$(MAKE) MODE=tsan configure
	cmake --build build-tsan -j $(JOBS) --target hv_two_linux softcpu
	ln -sfn $(CURDIR)/build/guest build-tsan/guest
	cd build-tsan && ctest --output-on-failure -j $(JOBS) --no-tests=error -R '$(TSAN_LINUX_TESTS)'

# CI's share of the ASan+UBSan suite (.ci/run runs it after `make test`; docs/hardening.md
# "In CI"): every unit test in one process, interpreted and compiled, the guest programs, the
# native oracle in both tiers at 100 cases per form, the gdb stub and one Linux boot to the
# shell with the JIT on. It runs in the fuzzers' tree ($(FUZZ_BUILD): clang-19, ASan + UBSan
# with libFuzzer's coverage instrumentation), so that `make fuzz-smoke` after it builds only
# the five harness executables. Only the targets those tests need are built (no fuzz
# replays, fault shims or benchmark ROMs). A sanitizer report aborts the process it is in, so
# the test that ran it fails, and so does this. (`make test-asan` is the same subset with gcc.)
SAN_CI_TARGETS := softcpu softcpu_unit_tests oracle_main guest_roms guest_platform_roms \
                  guest_mb_kernel guest_mb_low guest_vmcall_ud
SAN_CI_TESTS := ^(unit_tests|unit_tests_jit|guest\..*|native_oracle|native_oracle_jit|gdb|linux\.shell_direct|linux\.screen_dump)$$
test-sanitize: $(FUZZ_BUILD)/build.ninja
	$(MAKE) MODE=release guest
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(SAN_CI_TARGETS)
	ln -sfn $(CURDIR)/build/guest $(FUZZ_BUILD)/guest
	cd $(FUZZ_BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 1800 --no-tests=error \
	  -R '$(SAN_CI_TESTS)'

bench: build
	cmake --build $(BUILD) --target bench

# The libFuzzer harnesses (tests/fuzz/README.md): a clang-19 build with ASan + UBSan and
# coverage instrumentation in $(FUZZ_BUILD) (SOFTCPU_FUZZ=ON, tests/fuzz/options.cmake; the
# tree test-sanitize runs in), then each harness for FUZZ_SECONDS over its seed corpus.
# -Werror as in the gcc trees: clang's warnings (e.g. -Wunused-lambda-capture) fail it too.
$(FUZZ_BUILD)/build.ninja: | deps
	CC=clang-19 CXX=clang++-19 cmake -S . -B $(FUZZ_BUILD) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOFTCPU_FUZZ=ON -DSOFTCPU_WERROR=ON

fuzz-smoke: $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	tests/fuzz/fuzz_smoke.py --build $(FUZZ_BUILD) --seconds $(FUZZ_SECONDS) \
	  $(if $(FUZZ_FIXED),--fixed) -- $(FUZZ_FLAGS)

clean:
	rm -rf $(BUILD)
