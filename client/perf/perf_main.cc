// gridserve-perf: load generator for KServe v2 / Triton gRPC servers. See client/perf/README.md.

#include <iostream>
#include <string>
#include <vector>

#include "client/perf/perf_runner.h"

int main(int argc, char** argv) {
  return gridserve::client::perf::PerfMain(std::vector<std::string>(argv + 1, argv + argc),
                                           std::cout, std::cerr);
}
