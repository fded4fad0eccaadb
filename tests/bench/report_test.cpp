// Report: the JSON rendering stays valid whatever the target is called.
#include "okq/bench/report.hpp"

#include <gtest/gtest.h>

namespace okq::bench {
namespace {

TEST(Report, JsonEscapesQuotesBackslashesAndControlBytes) {
  EXPECT_EQ(json_escape("unix:/tmp/a\"b\\c\n\x01"), "unix:/tmp/a\\\"b\\\\c\\u000a\\u0001");
  Report r;
  r.target = "unix:/tmp/we\"ird";
  r.protocol = "okq";
  const auto json = to_json(r);
  EXPECT_NE(json.find("\"target\":\"unix:/tmp/we\\\"ird\""), std::string::npos) << json;
}

}  // namespace
}  // namespace okq::bench
