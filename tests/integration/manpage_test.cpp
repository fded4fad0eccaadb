// Every flag a program's --help lists is documented in its man page, so the two
// cannot drift apart.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <set>

#include "../support/okq.hpp"

namespace okq::test {
namespace {

std::set<std::string> long_flags(const std::string& help) {
  std::set<std::string> out;
  const std::regex flag("--[a-z][a-z-]*");
  for (auto it = std::sregex_iterator(help.begin(), help.end(), flag); it != std::sregex_iterator();
       ++it)
    out.insert(it->str());
  return out;
}

std::string man_page_text(const std::string& name) {
  const std::string text = read_file(std::string(OKQ_SOURCE_DIR) + "/docs/man/" + name + ".1");
  // troff writes a literal '-' as "\-".
  return std::regex_replace(text, std::regex(R"(\\-)"), "-");
}

void expect_documented(const std::string& bin, const std::string& name) {
  Process help({bin, "--help"});
  ASSERT_EQ(help.wait(), 0);
  const auto flags = long_flags(help.out());
  ASSERT_GE(flags.size(), 5u) << help.out();
  const std::string page = man_page_text(name);
  ASSERT_FALSE(page.empty()) << "no docs/man/" << name << ".1";
  for (const auto& flag : flags)
    EXPECT_NE(page.find(flag), std::string::npos) << name << ": " << flag;
}

TEST(ManPages, ServerFlagsAreAllDocumented) {
  expect_documented(server_bin(), "okq-server");
}
TEST(ManPages, ClientFlagsAreAllDocumented) {
  expect_documented(client_bin(), "okq-client");
}
TEST(ManPages, BenchFlagsAreAllDocumented) {
  expect_documented(bench_bin(), "okq-bench");
}

}  // namespace
}  // namespace okq::test
