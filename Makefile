# A thin wrapper over CMake. `make run` boots the default guest; `make test` runs every test.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOFTCPU_WERROR=ON

.PHONY: all deps configure build run test bench clean

all: build

deps:
	@tools/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# The default guest (until Linux boots) is our demo ROM: it prints to COM1 and exits through
# the debug-exit port with 0, which softcpu reports as status 1 (QEMU's convention).
run: deps configure
	cmake --build $(BUILD) -j $(JOBS) --target softcpu demo_rom
	@$(BUILD)/softcpu run --bios $(BUILD)/demo.rom; s=$$?; [ $$s -eq 1 ] || [ $$s -eq 0 ] || exit $$s

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: build
	cmake --build $(BUILD) --target bench

clean:
	rm -rf $(BUILD)
