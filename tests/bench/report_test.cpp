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

TEST(Report, RateKeepsItsFractionAndIdleConnectionsClosedAreShown) {
  Report r;
  r.rate = 100.5;
  r.idle_connections = 5;
  r.idle_closed = 2;
  const auto json = to_json(r);
  EXPECT_NE(json.find("\"rate\":100.5,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"idle_connections\":5,\"idle_closed\":2,"), std::string::npos) << json;
  EXPECT_NE(to_text(r).find("idle         3 held, 2 closed by the server\n"), std::string::npos)
      << to_text(r);
  r.idle_connections = 0;
  EXPECT_EQ(to_text(r).find("idle "), std::string::npos) << "no idle line without --idle";
}

}  // namespace
}  // namespace okq::bench
