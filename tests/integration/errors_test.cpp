// Integration: the exit codes and one-line errors of SPEC sections 3 and 4.
#include <gtest/gtest.h>

#include "../support/okq.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

TEST(Errors, SecondServerOnTheSameAddressExits2) {
  TestServer first;
  Process second({server_bin(), "-f", "-l", first.address()});
  EXPECT_EQ(second.wait(), 2);
  EXPECT_EQ(second.err(),
            "okq-server: cannot bind " + first.address() + ": Address already in use\n");
  // The first one is unharmed.
  RawClient c(first.port());
  c.send("Q\n");
  EXPECT_EQ(c.read_to_eof(), "Q\n");
}

TEST(Errors, SecondServerOnALiveUnixSocketExits2AndLeavesItAlone) {
  const std::string path = ::testing::TempDir() + "okq-dup-" + std::to_string(::getpid()) + ".sock";
  TestServer first({"-l", "unix:" + path}, true);
  Process second({server_bin(), "-f", "-l", "unix:" + path});
  EXPECT_EQ(second.wait(), 2);
  EXPECT_NE(second.err().find("Address already in use"), std::string::npos) << second.err();
  RawClient c(path);
  c.send("Q\n");
  EXPECT_EQ(c.read_to_eof(), "Q\n");
}

TEST(Errors, ClientWithNoServerExits2ConnectionRefused) {
  const auto port = std::to_string(unused_port());
  Process client({client_bin(), "127.0.0.1:" + port});
  client.close_stdin();
  EXPECT_EQ(client.wait(), 2);
  EXPECT_EQ(client.err(),
            "okq-client: cannot connect to 127.0.0.1:" + port + ": Connection refused\n");
}

TEST(Errors, ClientWithUnparsableAddressExits3) {
  for (const char* bad : {"127.0.0.1:notaport", "127.0.0.1:70000", "[::1"}) {
    Process client({client_bin(), bad});
    EXPECT_EQ(client.wait(), 3) << bad;
    EXPECT_NE(client.err().find("okq-client: cannot parse address"), std::string::npos)
        << client.err();
  }
}

TEST(Errors, ClientWithUnresolvableNameExits3) {
  Process client({client_bin(), "no-such-host.invalid:1"});
  EXPECT_EQ(client.wait(), 3);
  EXPECT_NE(client.err().find("okq-client: cannot resolve no-such-host.invalid:1"),
            std::string::npos)
      << client.err();
}

TEST(Errors, BadCommandLinesExit64) {
  const std::vector<std::vector<std::string>> cases = {
      {server_bin(), "--no-such-flag"},  {server_bin(), "--listen", "host:port"},
      {server_bin(), "--max-line", "0"}, {server_bin(), "--classic-size", "lots"},
      {client_bin(), "--pipeline", "0"}, {client_bin(), "--bogus"},
  };
  for (const auto& argv : cases) {
    Process p(argv);
    EXPECT_EQ(p.wait(), 64) << argv[1];
    EXPECT_FALSE(p.err().empty()) << argv[1];
  }
}

TEST(Errors, HelpAndVersionExitZero) {
  for (const auto& bin : {server_bin(), client_bin()}) {
    Process help({bin, "--help"});
    EXPECT_EQ(help.wait(), 0);
    const std::string flag = bin == server_bin() ? "--listen" : "--pipeline";
    EXPECT_NE(help.out().find(flag), std::string::npos) << help.out();
    Process version({bin, "--version"});
    EXPECT_EQ(version.wait(), 0);
    EXPECT_NE(version.out().find("okq-"), std::string::npos);
  }
}

}  // namespace
}  // namespace okq::test
