// Integration: okq-server --config FILE (CLI11's key = value format), the
// command line over it, mistakes named by file, line and key, a reload on
// SIGHUP that applies what can change live and leaves the rest, and
// --check-config.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "../support/okq.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

// A file of the test's own holding `text`; its path.
std::string config_file(const std::string& name, const std::string& text) {
  const std::string path = private_dir("config") + "/" + name;
  write_file(path, text);
  return path;
}

// What the server answers a 20-byte line on a connection of its own.
std::string answer_to_a_20_byte_line(std::uint16_t port) {
  RawClient c(port);
  c.send("0123456789012345678\n");
  c.shutdown_write();
  return c.read_to_eof();
}

TEST(Config, AValueFromTheFileTakesEffectAndAFlagOverridesIt) {
  const auto file = config_file("okq.conf", "# limits\nmax-line = 8   # bytes\n");
  TestServer from_file({"--config", file});
  EXPECT_EQ(answer_to_a_20_byte_line(from_file.port()), "ERR line too long\n");
  TestServer overridden({"--config", file, "--max-line", "100"});
  EXPECT_EQ(answer_to_a_20_byte_line(overridden.port()), "OK\n");
}

TEST(Config, RepeatableOptionsTakeAnArrayOrSeveralLines) {
  const auto a = unused_port(), b = unused_port(), c = unused_port();
  const auto file = config_file("okq.conf", "listen = [\"127.0.0.1:" + std::to_string(a) +
                                                "\",\n  \"127.0.0.1:" + std::to_string(b) +
                                                "\"]\nlisten = \"127.0.0.1:" + std::to_string(c) +
                                                "\"\nforeground = true\n");
  Process server(plus_matrix({server_bin(), "--config", file}));
  for (const auto port : {a, b, c})
    ASSERT_TRUE(server.wait_stderr("listening on 127.0.0.1:" + std::to_string(port)))
        << server.err();
  RawClient client(c);
  client.send("hi\n");
  EXPECT_EQ(client.read_exact(3), "OK\n");
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0) << server.err();
}

// Every mistake is exit 64, one line naming the file, the line and the key.
TEST(Config, MistakesNameTheFileTheLineAndTheKey) {
  const struct {
    std::string text, said;
  } cases[] = {
      {"max-line = 8\n\nidle-timout = 30\n", ":3: unknown key 'idle-timout'"},
      {"# x\nidle-timeout = soon\n", ":2: idle-timeout: soon is not a number of seconds"},
      {"threads = 0\n", ":1: threads: 0 is out of range: 1 to 1024"},
      {"max-line = 8\nmax-line = 9\n", ":2: max-line is set twice (first on line 1)"},
      {"verbose\n", ":1: 'verbose' is not key = value"},
      {"[server]\nmax-line = 8\n", ":1: sections are not used"},
  };
  for (const auto& c : cases) {
    const auto file = config_file("bad.conf", c.text);
    Process server({server_bin(), "-f", "-l", "127.0.0.1:0", "--config", file});
    EXPECT_EQ(server.wait(), 64) << c.text;
    EXPECT_EQ(server.err(), "okq-server: " + file + c.said +
                                (c.said.starts_with(":3: unknown")
                                     ? " (every key is a long option of okq-server --help)\n"
                                 : c.said.ends_with("used") ? ": every key is an option\n"
                                                            : "\n"))
        << c.text;
  }
  Process missing({server_bin(), "-f", "--config", "/nonexistent/okq.conf"});
  EXPECT_EQ(missing.wait(), 64);
  EXPECT_EQ(missing.err(),
            "okq-server: cannot read the configuration file /nonexistent/okq.conf: No such file "
            "or directory\n");
}

// SIGHUP reads the file again: a new --idle-timeout applies to connections
// made after it (and to open ones from their next message) while a load runs
// through the reload with nothing lost.
TEST(Config, AReloadChangesTheIdleTimeoutUnderLoadAndDropsNothing) {
  const auto file = config_file("okq.conf", "idle-timeout = 60\n");
  TestServer server({"--config", file});
  RawClient before(server.port());  // served under the old timeout (its reply says so), then idle
  before.send("hi\n");
  ASSERT_EQ(before.read_exact(3), "OK\n");
  Process bench({bench_bin(), "-c", "8", "-P", "4", "-d", "3", "--json", "-q", server.address()});
  write_file(file, "idle-timeout = 0.3\n");
  server.process().signal(SIGHUP);
  ASSERT_TRUE(server.process().wait_stderr("configuration reloaded from " + file +
                                           ": changed --idle-timeout"))
      << server.process().err();
  RawClient after(server.port());
  after.read_to_eof(5s);
  EXPECT_TRUE(after.eof()) << "a connection made after the reload keeps the old idle timeout";
  ASSERT_EQ(bench.wait(30s), 0) << bench.err() << bench.out();
  const auto out = bench.out();
  EXPECT_GT(json_field(out, "answered"), 0u) << out;
  EXPECT_EQ(json_field(out, "answered"), json_field(out, "sent")) << out;
  EXPECT_EQ(json_field(out, "lost"), 0u) << out;
  EXPECT_EQ(json_field(out, "errors"), 0u) << out;
  // An open connection keeps the deadline it has until its next message.
  EXPECT_FALSE(before.peer_closed()) << "the idle connection from before the reload was cut";
  before.send("hi\n");
  EXPECT_EQ(before.read_exact(3), "OK\n");
}

// A file that no longer parses changes nothing, says why in one line, and
// the server goes on serving as before; a setting that cannot change live
// is named and left as it was while the others change.
TEST(Config, ABrokenFileChangesNothingAndWhatNeedsAnUpgradeIsLeft) {
  const auto file = config_file("okq.conf", "max-line = 8\n");
  TestServer server({"--config", file});
  write_file(file, "max-line = 100\nmax-lines = 3\n");
  server.process().signal(SIGHUP);
  ASSERT_TRUE(server.process().wait_stderr("configuration not reloaded, nothing changed: " + file +
                                           ":2: unknown key 'max-lines'"))
      << server.process().err();
  EXPECT_EQ(answer_to_a_20_byte_line(server.port()), "ERR line too long\n");

  write_file(file, "max-line = 100\nbacklog = 16\n");
  server.process().signal(SIGHUP);
  ASSERT_TRUE(
      server.process().wait_stderr("configuration reloaded from " + file + ": changed --max-line"))
      << server.process().err();
  EXPECT_NE(server.process().err().find("--backlog changed in " + file +
                                        ": needs an upgrade (SIGUSR2); left as it was"),
            std::string::npos)
      << server.process().err();
  EXPECT_EQ(answer_to_a_20_byte_line(server.port()), "OK\n");
}

TEST(Config, CheckConfigPrintsWhatItWouldServeAndBindsNothing) {
  TestServer running;  // holds the port the file names
  const auto file = config_file(
      "okq.conf", "listen = \"" + running.address() + "\"\nmetrics = 9\nidle-timeout = 5\n");
  Process good({server_bin(), "--check-config", "--config", file});
  EXPECT_EQ(good.wait(), 0) << good.err();
  EXPECT_EQ(good.out(), "okq-server: the configuration is valid (" + file + ")\nplain      " +
                            running.address() + "\nmetrics    127.0.0.1:9\n");
  Process bad({server_bin(), "--check-config", "--config", file, "--max-line", "0"});
  EXPECT_EQ(bad.wait(), 64);
  EXPECT_NE(bad.err().find("--max-line: 0 is out of range"), std::string::npos) << bad.err();
  write_file(file,
             "tls-listen = \"127.0.0.1:0\"\ntls-cert = \"/nonexistent.pem\"\n"
             "tls-key = \"/nonexistent.key\"\n");
  Process tls({server_bin(), "--check-config", "--config", file});
  EXPECT_EQ(tls.wait(), 64);
  EXPECT_EQ(tls.err(),
            "okq-server: cannot read the certificate /nonexistent.pem: No such file or "
            "directory\n");
  Process user({server_bin(), "--check-config", "--user", "no-such-user-okq"});
  EXPECT_EQ(user.wait(), 64);
  EXPECT_NE(user.err().find("no-such-user-okq"), std::string::npos) << user.err();
}

// deploy/config/okq.conf (the package's /etc/okq/okq.conf) names every
// option --help lists, each with its default, and is valid as shipped.
TEST(Config, TheShippedFileNamesEveryOptionAndChecksClean) {
  const std::string path = std::string(OKQ_SOURCE_DIR) + "/deploy/config/okq.conf";
  const std::string conf = read_file(path);
  Process help({server_bin(), "--help"});
  ASSERT_EQ(help.wait(), 0);
  const std::string out = help.out();
  int named = 0;
  for (std::size_t at = out.find("--"); at != std::string::npos; at = out.find("--", at + 2)) {
    if (at > 0 && out[at - 1] != ' ' && out[at - 1] != ',') continue;
    const auto end = out.find_first_not_of("abcdefghijklmnopqrstuvwxyz-", at + 2);
    const std::string key = out.substr(at + 2, end - at - 2);
    if (key.empty() || key == "help" || key == "version" || key == "config" ||
        key == "check-config" || out.rfind("\n  ", at) != out.rfind('\n', at))
      continue;  // only the options' own lines, not the help text naming them
    ++named;
    EXPECT_TRUE(conf.find("\n# " + key + " = ") != std::string::npos ||
                conf.find("\n" + key + " = ") != std::string::npos)
        << key << " is not in " << path;
  }
  EXPECT_GE(named, 40) << out;
  Process check({server_bin(), "--check-config", "--config", path});
  EXPECT_EQ(check.wait(), 0) << check.err();
}

}  // namespace
}  // namespace okq::test
