#include "server/logging.h"

#include "gtest/gtest.h"

namespace gridserve::server {
namespace {

TEST(JsonEscapeTest, EscapesQuotesBackslashesAndControlBytes) {
  EXPECT_EQ(JsonEscape("plain"), "plain");
  EXPECT_EQ(JsonEscape("say \"hi\"\\"), "say \\\"hi\\\"\\\\");
  EXPECT_EQ(JsonEscape("a\nb\tc\r"), "a\\nb\\tc\\r");
  EXPECT_EQ(JsonEscape(std::string("\x01\x1f", 2)), "\\u0001\\u001f");
  EXPECT_EQ(JsonEscape("h\xC3\xA9"), "h\xC3\xA9");  // UTF-8 passes through
}

TEST(SetupLoggingTest, AcceptsKnownFormatsOnly) {
  EXPECT_TRUE(SetupLogging(0, "default").ok());
  EXPECT_TRUE(SetupLogging(1, "json").ok());
  EXPECT_EQ(SetupLogging(0, "xml").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SetupLogging(0, "default").ok());
}

}  // namespace
}  // namespace gridserve::server
