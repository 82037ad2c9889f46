#pragma once

#include <string>

namespace gridserve::server {

// The malloc the process runs on, for the startup log: "jemalloc 5.3.0-0-g54eaed1d8b56" when
// jemalloc is linked in (the default build, see server/CMakeLists.txt) or preloaded, otherwise
// "glibc" (the only other malloc the project builds with; a preloaded tcmalloc would be
// misnamed). Found at run time through jemalloc's mallctl() symbol, so the answer is true also for
// a binary started with LD_PRELOAD.
std::string MallocName();

}  // namespace gridserve::server
