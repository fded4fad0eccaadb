// docs/tutorial.md shows a real session's system calls: the excerpt must be
// what tools/strace-session prints for the current build, so it stays true.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "../support/okq.hpp"

namespace okq::test {
namespace {

// The excerpt between docs/tutorial.md's `<!-- NAME: begin -->` and `end` markers.
std::string doc_excerpt(const std::string& name = "strace-session") {
  const std::string doc = read_file(std::string(OKQ_SOURCE_DIR) + "/docs/tutorial.md");
  const std::string begin = "<!-- " + name + ": begin -->\n```\n",
                    end = "```\n<!-- " + name + ": end -->";
  const auto i = doc.find(begin), j = doc.find(end);
  if (i == std::string::npos || j == std::string::npos) return "";
  return doc.substr(i + begin.size(), j - i - begin.size());
}

TEST(Tutorial, StraceExcerptIsWhatTheScriptPrintsToday) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP()
      << "sanitizer runtimes open descriptors of their own: the excerpt is for a release build";
#endif
  if (::access("/usr/bin/strace", X_OK) != 0) GTEST_SKIP() << "strace is not installed";
  const std::string build = server_bin().substr(0, server_bin().rfind('/'));
  Process script({std::string(OKQ_SOURCE_DIR) + "/tools/strace-session", build});
  ASSERT_EQ(script.wait(30s), 0) << script.err();
  const std::string excerpt = doc_excerpt();
  ASSERT_FALSE(excerpt.empty()) << "no strace-session markers in docs/tutorial.md";
  EXPECT_EQ(script.out(), excerpt) << "run tools/strace-session --update";
}

// The i386 pair's session: the excerpt is what tools/strace-nolibc prints,
// and every network call in it is system call 102, sys_socketcall.
TEST(Tutorial, TheI386SessionMakesEveryNetworkCallThroughSocketcall) {
#ifndef OKQ_NOLIBC_BINS
  GTEST_SKIP() << "the nolibc programs are built on x86-64 only";
#endif
  if (::access("/usr/bin/strace", X_OK) != 0) GTEST_SKIP() << "strace is not installed";
  if (::geteuid() != 0) GTEST_SKIP() << "tools/strace-nolibc needs root for its network namespace";
  const std::string build = server_bin().substr(0, server_bin().rfind('/'));
  Process script({std::string(OKQ_SOURCE_DIR) + "/tools/strace-nolibc", build});
  ASSERT_EQ(script.wait(30s), 0) << script.err();
  const std::string excerpt = doc_excerpt("strace-nolibc");
  ASSERT_FALSE(excerpt.empty()) << "no strace-nolibc markers in docs/tutorial.md";
  EXPECT_EQ(script.out(), excerpt) << "run tools/strace-nolibc --update";
  int network_calls = 0;
  std::istringstream lines(script.out());
  for (std::string line; std::getline(lines, line);) {
    for (const char* call : {"] socket(", "] bind(", "] listen(", "] accept(", "] connect(",
                             "] send(", "] recv(", "] setsockopt(", "] shutdown("})
      if (line.find(call) != std::string::npos) {
        ++network_calls;
        EXPECT_TRUE(line.starts_with("[ 102] ")) << "not through socketcall: " << line;
      }
  }
  EXPECT_EQ(network_calls, 9 + 7) << script.out();  // the server's nine, the client's seven
}

}  // namespace
}  // namespace okq::test
