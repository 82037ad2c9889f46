#include "server/allocator.h"

#include <dlfcn.h>

#include <cstddef>

namespace gridserve::server {

std::string MallocName() {
  using MallctlFn = int (*)(const char*, void*, size_t*, void*, size_t);
  auto* mallctl = reinterpret_cast<MallctlFn>(dlsym(RTLD_DEFAULT, "mallctl"));
  if (mallctl == nullptr) return "glibc";
  const char* version = nullptr;
  size_t size = sizeof(version);
  if (mallctl("version", &version, &size, nullptr, 0) != 0 || version == nullptr) {
    return "jemalloc";
  }
  return std::string("jemalloc ") + version;
}

}  // namespace gridserve::server
