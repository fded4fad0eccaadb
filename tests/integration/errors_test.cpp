// Integration: the exit codes and one-line errors of SPEC sections 3 and 4.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

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

// -l unix:PATH never removes what is not a stale socket: a mistyped path to a
// file is refused, and the file survives.
TEST(Errors, UnixPathThatIsARegularFileExits2AndTheFileSurvives) {
  const std::string path = ::testing::TempDir() + "okq-file-" + std::to_string(::getpid());
  std::ofstream(path) << "precious\n";
  Process server({server_bin(), "-f", "-l", "unix:" + path});
  EXPECT_EQ(server.wait(), 2);
  EXPECT_EQ(server.err(),
            "okq-server: cannot bind unix:" + path + ": exists and is not a socket\n");
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "precious");
  ::unlink(path.c_str());

  Process dir({server_bin(), "-f", "-l", "unix:" + ::testing::TempDir()});
  EXPECT_EQ(dir.wait(), 2);
  EXPECT_NE(dir.err().find(": is a directory"), std::string::npos) << dir.err();
}

TEST(Errors, UnixSocketGetsTheModeAskedForAndAReplacedFileIsNotRemovedAtExit) {
  const std::string path =
      ::testing::TempDir() + "okq-mode-" + std::to_string(::getpid()) + ".sock";
  TestServer server({"-l", "unix:" + path, "--unix-mode", "600"}, true);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // An operator moves the socket away and puts a file of theirs at the path.
  ASSERT_EQ(::rename(path.c_str(), (path + ".moved").c_str()), 0);
  std::ofstream(path) << "theirs\n";
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(::access(path.c_str(), F_OK), 0) << "the server removed a file it did not create";
  ::unlink(path.c_str());
  ::unlink((path + ".moved").c_str());
}

TEST(Errors, CommandLineMistakesAreNamedPlainly) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{server_bin(), "--backlog", "abc"}, "--backlog: abc is not a whole number"},
      {{server_bin(), "--max-line", "0"}, "--max-line: 0 is out of range: 1 to 1073741824"},
      {{server_bin(), "-l", "tcp://127.0.0.1:1"}, "not a URL: write HOST:PORT or unix:PATH"},
      {{server_bin(), "--shutdown-timeout", "nan"}, "nan is not a number of seconds"},
      {{server_bin(), "--idle-timeout", "inf"}, "inf is not a number of seconds"},
      {{server_bin(), "--unix-mode", "rw"}, "rw is not an octal mode"},
      {{client_bin(), "--timeout", "nan"}, "nan is not a number of seconds"},
      {{client_bin(), "--timeout", "-inf"}, "-inf is not a number of seconds"},
      {{client_bin(), "--max-line", "x"}, "x is not a whole number"},
      {{bench_bin(), "-d", "nan", "127.0.0.1:1"}, "nan is not a number of seconds"},
  };
  for (const auto& [argv, message] : cases) {
    Process p(argv);
    EXPECT_EQ(p.wait(), 64) << argv[1] << " " << argv[2];
    EXPECT_NE(p.err().find(message), std::string::npos) << p.err();
  }
}

TEST(Errors, TheSameAddressTwiceIsNamedAsSuch) {
  const auto port = std::to_string(unused_port());
  Process p({server_bin(), "-f", "-l", "127.0.0.1:" + port, "-l", "127.0.0.1:" + port});
  EXPECT_EQ(p.wait(), 2);
  EXPECT_EQ(p.err(), "okq-server: cannot bind 127.0.0.1:" + port +
                         ": given twice (-l 127.0.0.1:" + port + ")\n");
  Process m({server_bin(), "-f", "-l", "127.0.0.1:" + port, "--metrics", "127.0.0.1:" + port});
  EXPECT_EQ(m.wait(), 2);
  EXPECT_EQ(m.err(), "okq-server: cannot bind 127.0.0.1:" + port +
                         ": given twice (-l 127.0.0.1:" + port + " and --metrics)\n");
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
