#include "client/perf/perf_options.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridserve::client::perf {
namespace {

using ::testing::ElementsAre;

TEST(ParseRangeTest, StartEndStep) {
  absl::StatusOr<Range> r = ParseRange("1:16:5", 1, true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->Values(), ElementsAre(1, 6, 11, 16));
}

TEST(ParseRangeTest, EndNotOnAStepIsNotPassed) {
  absl::StatusOr<Range> r = ParseRange("1:10:4", 1, true);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->Values(), ElementsAre(1, 5, 9));
}

TEST(ParseRangeTest, StartAloneAndStartEnd) {
  EXPECT_THAT(ParseRange("8", 1, true)->Values(), ElementsAre(8));
  EXPECT_THAT(ParseRange("2:4", 1, true)->Values(), ElementsAre(2, 3, 4));
}

TEST(ParseRangeTest, FractionalStepsReachEnd) {
  absl::StatusOr<Range> r = ParseRange("0.1:0.3:0.1", 0.001, false);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->Values().size(), 3u);
  EXPECT_DOUBLE_EQ(r->Values()[2], 0.1 + 2 * 0.1);
}

TEST(ParseRangeTest, RejectsBadRanges) {
  for (const char* bad : {"", "a", "1:b", "1:2:3:4", "4:1", "1:4:0", "1:4:-1", "0:4", "1.5:4",
                          "1:1000000", "inf", "1:nan"}) {
    EXPECT_EQ(ParseRange(bad, 1, true).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseRangeTest, StepCountIsBounded) {
  EXPECT_TRUE(ParseRange("1:1000", 1, true).ok());
  EXPECT_FALSE(ParseRange("1:1001", 1, true).ok());
}

TEST(ParseShapeSpecTest, NameAndDims) {
  auto spec = ParseShapeSpec("INPUT:3,224,224");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->first, "INPUT");
  EXPECT_THAT(spec->second, ElementsAre(3, 224, 224));
  // The last colon separates: names may hold colons.
  EXPECT_EQ(ParseShapeSpec("a:b:4")->first, "a:b");
}

TEST(ParseShapeSpecTest, RejectsBadSpecs) {
  for (const char* bad : {"x", ":4", "x:", "x:0", "x:-1", "x:4,,4", "x:a"}) {
    EXPECT_EQ(ParseShapeSpec(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParsePerfArgsTest, Defaults) {
  absl::StatusOr<PerfOptions> o = ParsePerfArgs({"-m", "linear4"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->model, "linear4");
  EXPECT_EQ(o->url, "localhost:8001");
  EXPECT_EQ(o->measurement_interval_ms, 5000);
  EXPECT_EQ(o->batch_size, 1);
  EXPECT_THAT(o->concurrency.Values(), ElementsAre(1));
  EXPECT_FALSE(o->request_rate.has_value());
  EXPECT_EQ(o->input_data, InputData::kRandom);
  EXPECT_FALSE(o->json);
}

TEST(ParsePerfArgsTest, EveryFlag) {
  absl::StatusOr<PerfOptions> o = ParsePerfArgs({"-m",
                                                 "m",
                                                 "-x",
                                                 "2",
                                                 "-u",
                                                 "127.0.0.1:9",
                                                 "--concurrency-range=1:8:2",
                                                 "--measurement-interval",
                                                 "100",
                                                 "--warmup-ms=0",
                                                 "--max-requests",
                                                 "50",
                                                 "-b",
                                                 "4",
                                                 "--shape",
                                                 "x:3,5",
                                                 "--input-data",
                                                 "zero",
                                                 "--threads=1",
                                                 "--timeout-ms",
                                                 "10",
                                                 "--refusal-backoff-ms",
                                                 "3",
                                                 "--max-outstanding",
                                                 "7",
                                                 "--max-message-bytes",
                                                 "2048",
                                                 "-f",
                                                 "out.csv",
                                                 "--json"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->model_version, "2");
  EXPECT_EQ(o->url, "127.0.0.1:9");
  EXPECT_THAT(o->concurrency.Values(), ElementsAre(1, 3, 5, 7));
  EXPECT_EQ(o->measurement_interval_ms, 100);
  EXPECT_EQ(o->warmup_ms, 0);
  EXPECT_EQ(o->max_requests, 50);
  EXPECT_EQ(o->batch_size, 4);
  EXPECT_THAT(o->shapes.at("x"), ElementsAre(3, 5));
  EXPECT_EQ(o->input_data, InputData::kZero);
  EXPECT_EQ(o->threads, 1);
  EXPECT_EQ(o->timeout_ms, 10);
  EXPECT_EQ(o->refusal_backoff_ms, 3);
  EXPECT_EQ(o->max_outstanding, 7);
  EXPECT_EQ(o->max_message_bytes, 2048);
  EXPECT_EQ(o->csv_file, "out.csv");
  EXPECT_TRUE(o->json);
}

TEST(ParsePerfArgsTest, RequestRateAndInputFile) {
  absl::StatusOr<PerfOptions> o =
      ParsePerfArgs({"-m", "m", "--request-rate-range", "100:300:100", "--input-data", "in.json"});
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(o->request_rate.has_value());
  EXPECT_THAT(o->request_rate->Values(), ElementsAre(100, 200, 300));
  EXPECT_EQ(o->input_data, InputData::kFile);
  EXPECT_EQ(o->input_file, "in.json");
}

TEST(ParsePerfArgsTest, Errors) {
  EXPECT_EQ(ParsePerfArgs({}).status().code(), absl::StatusCode::kInvalidArgument);  // no -m
  EXPECT_EQ(ParsePerfArgs({"-m"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePerfArgs({"-m", "m", "--bogus", "1"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePerfArgs({"-m", "m", "stray"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePerfArgs({"-m", "m", "-b", "0"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePerfArgs({"-m", "m", "--concurrency-range", "0:4"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePerfArgs({"-m", "m", "--input-data", "data.txt"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePerfArgs({"-m", "m", "--measurement-interval", "0"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePerfArgs({"--help"}).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace gridserve::client::perf
