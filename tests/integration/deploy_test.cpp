// Integration: the files in deploy/ with the real tools that read them:
// systemd-analyze for the unit files, logrotate for the rotation file,
// dpkg-deb for the package, cmake --install for make install.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "../support/okq.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

const std::string kDeploy = std::string(OKQ_SOURCE_DIR) + "/deploy";

TEST(Deploy, SystemdUnitsVerifyAndScoreAsHardened) {
  if (::access("/usr/bin/systemd-analyze", X_OK) != 0) GTEST_SKIP() << "systemd-analyze missing";
  const std::string dir = private_dir("units");
  write_file(dir + "/okq.socket", read_file(kDeploy + "/systemd/okq.socket"));
  // The unit names the installed binary; the test names the one just built.
  write_file(dir + "/okq.service", replace_all(read_file(kDeploy + "/systemd/okq.service"),
                                               "/usr/bin/okq-server", server_bin()));
  // Documentation=man:okq-server(1) is checked with man(1): give it the pages.
  ::mkdir((dir + "/man").c_str(), 0755);
  ::mkdir((dir + "/man/man1").c_str(), 0755);
  for (const char* page : {"okq-server", "okq-client", "okq-bench"})
    write_file(dir + "/man/man1/" + page + ".1",
               read_file(std::string(OKQ_SOURCE_DIR) + "/docs/man/" + page + ".1"));
  ::setenv("MANPATH", (dir + "/man").c_str(), 1);
  Process verify({"/usr/bin/systemd-analyze", "verify", dir + "/okq.socket", dir + "/okq.service"});
  Process security({"/usr/bin/systemd-analyze", "security", "--offline=yes", dir + "/okq.service"});
  ::unsetenv("MANPATH");
  EXPECT_EQ(verify.wait(30s), 0) << verify.err() << verify.out();
  EXPECT_EQ(verify.err(), "");
  ASSERT_EQ(security.wait(30s), 0) << security.err();
  std::smatch m;
  const std::string out = security.out();
  ASSERT_TRUE(
      std::regex_search(out, m, std::regex(R"(Overall exposure level for okq.service: ([0-9.]+))")))
      << out;
  std::cout << "systemd-analyze security --offline: exposure " << m[1] << "\n";
  EXPECT_LE(std::stod(m[1]), 2.0) << out;
}

// logrotate --force with the shipped file while a client is being served:
// the lines after the rotation land in the new file; none is lost or split.
TEST(Deploy, LogrotateUnderLoadLosesAndSplitsNoLine) {
  if (::access("/usr/sbin/logrotate", X_OK) != 0) GTEST_SKIP() << "logrotate missing";
  const std::string dir = private_dir("rotate");
  const std::string log = dir + "/okq.log";
  TestServer server({"--log-file", log, "--trace"});
  std::string conf = read_file(kDeploy + "/logrotate/okq");
  conf = replace_all(conf, "/var/log/okq/*.log", log);
  conf = replace_all(conf, "systemctl kill --signal=HUP okq.service",
                     "kill -HUP " + std::to_string(server.process().pid()));
  write_file(dir + "/okq.conf", conf);

  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::thread client([&] {
    RawClient c(server.port());
    for (int i = 0; i < 100000 && !stop; ++i) {
      c.send("m" + std::to_string(i) + "\n");
      if (c.read_exact(3, 5s) != "OK\n") return;
      ++answered;
    }
    c.send("Qend\n");
    c.read_to_eof();
  });
  for (int i = 0; i < 500 && answered < 200; ++i) std::this_thread::sleep_for(2ms);
  Process rotate({"/usr/sbin/logrotate", "--force", "--state", dir + "/state", dir + "/okq.conf"});
  EXPECT_EQ(rotate.wait(30s), 0) << rotate.err() << rotate.out();
  const int at_rotation = answered;
  for (int i = 0; i < 500 && answered < at_rotation + 200; ++i) std::this_thread::sleep_for(2ms);
  stop = true;
  client.join();
  EXPECT_EQ(server.stop(), 0);

  const std::string old_file = read_file(log + ".1"), new_file = read_file(log);
  ASSERT_FALSE(old_file.empty()) << "no rotated file";
  const std::regex line_re(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z okq-server\[\d+\]: .*)");
  int messages = 0;
  std::set<int> seen;
  for (const std::string* text : {&old_file, &new_file}) {
    ASSERT_TRUE(text->empty() || text->back() == '\n') << "a split last line";
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      EXPECT_TRUE(std::regex_match(line, line_re)) << "split or garbled: " << line;
      std::smatch m;
      if (std::regex_search(line, m, std::regex(R"re(message "m(\d+)")re"))) {
        seen.insert(std::stoi(m[1]));
        ++messages;
      }
    }
  }
  const int total = answered;
  EXPECT_EQ(messages, total) << "every answered message is logged exactly once";
  EXPECT_EQ(static_cast<int>(seen.size()), total);
  EXPECT_NE(new_file.find("message \"m"), std::string::npos) << "nothing landed in the new file";
  EXPECT_NE(new_file.find("Hangup: log file reopened"), std::string::npos);
  std::cout << "logrotate under load: " << total << " messages, " << at_rotation
            << " before the rotation, every one logged once\n";
}

// Runs `argv` to the end and returns its standard output; fails the test on
// a non-zero exit.
std::string output_of(const std::vector<std::string>& argv) {
  Process p(argv);
  const auto code = p.wait(60s);
  EXPECT_EQ(code, 0) << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << ": " << p.err();
  return p.out();
}

bool is_file(const std::string& path, bool executable = false) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         (!executable || (st.st_mode & S_IXUSR));
}

// The files the package and `make install` both carry, below `root`.
void expect_layout(const std::string& root, const std::string& etc, const std::string& units,
                   const std::string& usr) {
  for (const char* prog : {"okq-server", "okq-client", "okq-bench"}) {
    EXPECT_TRUE(is_file(usr + "/bin/" + prog, true)) << prog;
    EXPECT_TRUE(is_file(usr + "/share/man/man1/" + prog + std::string(".1.gz"))) << prog;
  }
  EXPECT_TRUE(is_file(units + "/okq.service")) << units;
  EXPECT_TRUE(is_file(units + "/okq.socket")) << units;
  EXPECT_EQ(read_file(etc + "/logrotate.d/okq"), read_file(kDeploy + "/logrotate/okq"));
  EXPECT_TRUE(is_file(usr + "/share/doc/okq/copyright")) << root;
  EXPECT_TRUE(is_file(usr + "/share/doc/okq/examples/haproxy.cfg")) << root;
}

// make deb (which make test runs first, lintian included) builds the package;
// unpacked into a scratch root it has every file where Debian looks for it,
// the unit starts the binary it installs, the logrotate file is a conffile,
// the dependencies came from the binaries, and the installed server runs.
TEST(Deploy, DebianPackageInstallsWhereDebianLooks) {
  const std::string deb = std::string(OKQ_SOURCE_DIR) + "/build-deb/okq_0.1.0_amd64.deb";
  if (::access(deb.c_str(), R_OK) != 0) GTEST_SKIP() << "no package: run make deb (" << deb << ")";
  const std::string root = private_dir("deb");
  output_of({"/usr/bin/dpkg-deb", "-x", deb, root});
  expect_layout(root, root + "/etc", root + "/lib/systemd/system", root + "/usr");
  const std::string unit = read_file(root + "/lib/systemd/system/okq.service");
  EXPECT_NE(unit.find("ExecStart=/usr/bin/okq-server "), std::string::npos) << unit;
  EXPECT_EQ(output_of({"/usr/bin/dpkg-deb", "-f", deb, "Package", "Version", "Architecture"}),
            "Package: okq\nVersion: 0.1.0\nArchitecture: amd64\n");
  const std::string depends = output_of({"/usr/bin/dpkg-deb", "-f", deb, "Depends"});
  EXPECT_NE(depends.find("liburing2"), std::string::npos) << depends;
  EXPECT_NE(depends.find("libfmt9"), std::string::npos) << depends;
  const std::string control = root + "-control";
  output_of({"/usr/bin/dpkg-deb", "-e", deb, control});
  EXPECT_EQ(read_file(control + "/conffiles"), "/etc/logrotate.d/okq\n");
  EXPECT_EQ(output_of({root + "/usr/bin/okq-server", "--version"}), "okq-server 0.1.0\n");
}

// make install PREFIX=DIR keeps everything under DIR.
TEST(Deploy, InstallWithAPrefixStaysUnderIt) {
  const std::string prefix = private_dir("prefix");
  output_of({OKQ_CMAKE, "--install", OKQ_BUILD_DIR, "--prefix", prefix});
  expect_layout(prefix, prefix + "/etc", prefix + "/lib/systemd/system", prefix);
  EXPECT_EQ(output_of({prefix + "/bin/okq-client", "--version"}), "okq-client 0.1.0\n");
}

}  // namespace
}  // namespace okq::test
