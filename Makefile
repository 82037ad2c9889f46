# Thin wrapper over scripts/, CMake and ctest. Quick start: `make run`, `make test`.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3
GRPC_PORT ?= 8001
ARGS ?=

.PHONY: all deps configure build models run test bench format clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Trains and exports the demo model zoo into models/repository (cached; a second run takes seconds),
# on the BLAS kernels gridserve chooses for this CPU (gridserve-blas, a small tool without LibTorch).
models: configure
	@cmake --build $(BUILD_DIR) --target gridserve-blas >/dev/null
	@GRIDSERVE_BLAS_TOOL=$(BUILD_DIR)/runtime/cpu/gridserve-blas $(PYTHON) models/build.py

run: build models
	$(BUILD_DIR)/server/gridserve --model-repository=models/repository --grpc-port=$(GRPC_PORT) $(ARGS)

test: build models
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(ARGS)

bench: build models
	@scripts/bench.sh

format:
	@git ls-files '*.cc' '*.h' '*.proto' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
