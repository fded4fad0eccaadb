// Integration: a short run of the loss soak (make soak runs 10 million).
#include <gtest/gtest.h>

#include "../support/okq.hpp"

namespace okq::test {
namespace {

TEST(Soak, RandomFragmentationLosesNothing) {
  TestServer server;
  Process soak({OKQ_SOAK_BIN, "-n", "200000", "-c", "16", "--seed", "7", "--timeout", "60",
                server.address()});
  EXPECT_EQ(soak.wait(90s), 0) << soak.out() << soak.err();
  EXPECT_NE(soak.out().find("lost: 0\nerrors: 0\n"), std::string::npos) << soak.out();
  EXPECT_NE(soak.out().find("200016 answered"), std::string::npos) << soak.out();
}

}  // namespace
}  // namespace okq::test
