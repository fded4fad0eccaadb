// docs/tutorial.md shows a real session's system calls: the excerpt must be
// what tools/strace-session prints for the current build, so it stays true.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "../support/okq.hpp"

namespace okq::test {
namespace {

std::string doc_excerpt() {
  const std::string doc = read_file(std::string(OKQ_SOURCE_DIR) + "/docs/tutorial.md");
  const std::string begin = "<!-- strace-session: begin -->\n```\n",
                    end = "```\n<!-- strace-session: end -->";
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

}  // namespace
}  // namespace okq::test
