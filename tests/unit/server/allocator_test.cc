#include "server/allocator.h"

#include "gtest/gtest.h"

namespace gridserve::server {
namespace {

// The unit tests link glibc's malloc (only the gridserve binary links jemalloc), so there is no
// mallctl() to find.
TEST(MallocNameTest, GlibcWithoutJemalloc) { EXPECT_EQ(MallocName(), "glibc"); }

}  // namespace
}  // namespace gridserve::server
