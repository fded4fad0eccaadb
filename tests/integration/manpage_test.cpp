// Every flag a program's --help lists is documented in its man page, so the two
// cannot drift apart.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

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
// okq-server --help reads in sections, each flag under the one it belongs
// to, and says which flags exclude or need others.
TEST(ManPages, ServerHelpReadsInSections) {
  Process help({server_bin(), "--help"});
  ASSERT_EQ(help.wait(), 0);
  const std::string out = help.out();
  std::size_t at = 0;
  for (const auto& [section, flag] :
       std::vector<std::pair<std::string, std::string>>{{"Listeners:", "--listen"},
                                                        {"Protocol and limits:", "--max-line"},
                                                        {"PROXY protocol", "--proxy-listen"},
                                                        {"TLS:", "--tls-listen"},
                                                        {"Relay", "--upstream"},
                                                        {"Process:", "--pidfile"},
                                                        {"Logging:", "--log-file"}}) {
    at = out.find("\n" + section, at);
    ASSERT_NE(at, std::string::npos) << section << " missing or out of order:\n" << out;
    const auto next = out.find("\n\n\n", at);
    EXPECT_LT(out.find(flag, at), next) << flag << " is not under " << section;
  }
  EXPECT_NE(out.find("--upstream ADDR Excludes: --classic"), std::string::npos) << out;
  EXPECT_NE(out.find("--group NAME Needs: --user"), std::string::npos) << out;
}

TEST(ManPages, ClientFlagsAreAllDocumented) {
  expect_documented(client_bin(), "okq-client");
}
TEST(ManPages, BenchFlagsAreAllDocumented) {
  expect_documented(bench_bin(), "okq-bench");
}

}  // namespace
}  // namespace okq::test
