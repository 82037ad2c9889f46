#!/usr/bin/env bash
# Installs the Debian 12 packages gridserve needs to build, test and prepare its demo models.
# Only packages that are missing are installed; a machine that has them all is left untouched.
# Usage: scripts/install-deps.sh [extra-package ...]
set -euo pipefail

packages=(
  # toolchain
  cmake g++ make pkg-config ninja-build
  # LibTorch 1.13 and a fast BLAS for it (without it LibTorch falls back to reference BLAS)
  libtorch-dev libopenblas0-pthread
  # jemalloc for the server binary (server/CMakeLists.txt)
  libjemalloc-dev
  # gRPC 1.51 + Protocol Buffers 3.21
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # Abseil, logging, HTTP (cpp-httplib, the REST front end), SQLite
  libabsl-dev libspdlog-dev libcpp-httplib-dev libsqlite3-dev
  # Prometheus client library (we link prometheus-cpp-core: metric types, text exposition)
  prometheus-cpp-dev
  # OpenSSL libcrypto: sha256 of model files for the registry (runtime/repository)
  libssl-dev
  # tests and benchmarks; prometheus provides promtool (metrics/rules checks) and the e2e scraper
  libgtest-dev libgmock-dev libbenchmark-dev prometheus
  # model scripts run with /usr/bin/python3 and Debian's torch
  python3 python3-torch python3-numpy
  # scripts/bench.sh: the plain Python gRPC baseline server and the batched-output check
  python3-grpcio python3-protobuf
  # examples/: plots (python3-pil comes with it and reads the PNGs back in the examples' tests)
  python3-matplotlib
  # the Python client's test of `pip install client/python` (into a venv, nothing fetched)
  python3-venv python3-pip
)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# A package list older than a day (or none) is refreshed first.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  $sudo apt-get update -qq
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
