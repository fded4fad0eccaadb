// What an upgrade starts again: argv[0] made absolute as the shell found it.
#include "okq/service/upgrade.hpp"

#include <gtest/gtest.h>

namespace okq::server {
namespace {

TEST(ProgramPath, IsArgv0AgainstTheCwdAndPath) {
  EXPECT_EQ(program_path("/usr/bin/okq-server", "/tmp", ""), "/usr/bin/okq-server");
  EXPECT_EQ(program_path("./okq-server", "/srv", ""), "/srv/./okq-server");
  EXPECT_EQ(program_path("sh", "/srv", "/nonexistent:/bin"), "/bin/sh");
  EXPECT_EQ(program_path("no-such-program-okq", "/srv", "/bin"), "");
  EXPECT_EQ(program_path("", "/srv", "/bin"), "");
}

}  // namespace
}  // namespace okq::server
