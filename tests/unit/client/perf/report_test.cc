#include "client/perf/report.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridserve::client::perf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

StepResult ServedStep() {
  StepResult s;
  s.concurrency = 32;
  s.batch_size = 1;
  s.window_s = 2.0;
  s.ok = 4000;
  s.refused = 7;
  s.errors = 1;
  s.failures_by_code = {{"RESOURCE_EXHAUSTED", 7}, {"DEADLINE_EXCEEDED", 1}};
  s.throughput_infer_per_s = 2000;
  s.latency.count = 4000;
  s.latency.p50_us = 100;
  s.latency.p90_us = 200;
  s.latency.p95_us = 300;
  s.latency.p99_us = 400;
  s.latency.mean_us = 120.25;
  s.latency.min_us = 50;
  s.latency.max_us = 900;
  s.server.available = true;
  s.server.queue_us = 30;
  s.server.compute_infer_us = 60.5;
  s.server.avg_batch = 16;
  s.server.executions = 250;
  s.client_cpu_us_per_request = 35.5;
  s.client_cpu_cores = 0.25;
  return s;
}

StepResult UnservedStep() {
  StepResult s;
  s.request_rate = 100;
  s.window_s = 1;
  s.server.available = false;
  s.server.unavailable_reason = "server has no ModelStatistics (UNIMPLEMENTED)";
  return s;
}

RunReport Report() {
  RunReport r;
  r.model = "lin\"ear";
  r.url = "127.0.0.1:1";
  r.measurement_interval_ms = 2000;
  r.steps = {ServedStep(), UnservedStep()};
  return r;
}

TEST(StatusCodeNameTest, Names) {
  EXPECT_EQ(StatusCodeName(0), "OK");
  EXPECT_EQ(StatusCodeName(8), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(StatusCodeName(12), "UNIMPLEMENTED");
  EXPECT_EQ(StatusCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(99), "CODE_99");
}

TEST(FormatStepTest, ServedStepShowsEverything) {
  const std::string text = FormatStep(ServedStep());
  EXPECT_THAT(text, HasSubstr("Concurrency: 32"));
  EXPECT_THAT(text, HasSubstr("throughput: 2000.0 infer/s"));
  EXPECT_THAT(text, HasSubstr("p50 100 us, p90 200 us, p95 300 us, p99 400 us"));
  EXPECT_THAT(text, HasSubstr("refused (RESOURCE_EXHAUSTED) 7, errors 1 (DEADLINE_EXCEEDED=1)"));
  EXPECT_THAT(text, HasSubstr("queue 30 us"));
  EXPECT_THAT(text, HasSubstr("avg batch 16.00"));
  EXPECT_THAT(text, HasSubstr("Client: 35.5 us CPU per request (0.25 cores)"));
}

TEST(FormatStepTest, MissingStatisticsPrintNA) {
  const std::string text = FormatStep(UnservedStep());
  EXPECT_THAT(text, HasSubstr("Request rate: 100.0/s"));
  EXPECT_THAT(text, HasSubstr("queue n/a, compute n/a"));
  EXPECT_THAT(text, HasSubstr("UNIMPLEMENTED"));
}

TEST(FormatCsvTest, HeaderAndOneRowPerStep) {
  const std::string csv = FormatCsv(Report());
  std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  const std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  ASSERT_EQ(header.size(), 24u);
  EXPECT_EQ(header[0], "concurrency");
  EXPECT_EQ(header[4], "throughput_infer_per_s");
  EXPECT_EQ(header[12], "p99_us");
  EXPECT_EQ(header[21], "client_cpu_us_per_request");
  EXPECT_EQ(header[22], "client_cpu_cores");
  EXPECT_EQ(header[23], "failures_by_code");
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(std::vector<std::string>(absl::StrSplit(lines[i], ',')).size(), header.size())
        << lines[i];
  }
  EXPECT_EQ(lines[1],
            "32,0.000,1,2.000,2000.0,4000,7,1,0,100,200,300,400,120.2,50,900,30.0,0.0,60.5,0.0,"
            "16.000,35.5,0.250,DEADLINE_EXCEEDED=1;RESOURCE_EXHAUSTED=7");
  // No statistics: empty server columns, not zeros.
  EXPECT_EQ(lines[2], "0,100.000,1,1.000,0.0,0,0,0,0,0,0,0,0,0.0,0,0,,,,,,0.0,0.000,");
}

TEST(FormatJsonTest, ParsesAndCarriesTheFigures) {
  const std::string json = FormatJson(Report());
  google::protobuf::Struct root;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &root).ok()) << json;
  EXPECT_EQ(root.fields().at("model").string_value(), "lin\"ear");
  const auto& steps = root.fields().at("steps").list_value();
  ASSERT_EQ(steps.values_size(), 2);
  const auto& first = steps.values(0).struct_value().fields();
  EXPECT_EQ(first.at("concurrency").number_value(), 32);
  EXPECT_EQ(first.at("throughput_infer_per_s").number_value(), 2000);
  EXPECT_EQ(first.at("p99_us").number_value(), 400);
  EXPECT_EQ(first.at("refused").number_value(), 7);
  EXPECT_EQ(first.at("server_avg_batch").number_value(), 16);
  EXPECT_EQ(first.at("client_cpu_us_per_request").number_value(), 35.5);
  EXPECT_EQ(first.at("client_cpu_cores").number_value(), 0.25);
  EXPECT_EQ(
      first.at("failures_by_code").struct_value().fields().at("RESOURCE_EXHAUSTED").number_value(),
      7);
  const auto& second = steps.values(1).struct_value().fields();
  EXPECT_EQ(second.at("server_queue_us").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(second.at("request_rate").number_value(), 100);
  EXPECT_THAT(json, Not(HasSubstr("nan")));
}

}  // namespace
}  // namespace gridserve::client::perf
