// Integration: the files in deploy/ with the real tools that read them:
// systemd-analyze for the unit files, logrotate for the rotation file,
// dpkg-deb for the package, cmake --install for make install.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
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
#include "okq/version.hpp"

namespace okq::test {
namespace {

const std::string kDeploy = std::string(OKQ_SOURCE_DIR) + "/deploy";

TEST(Deploy, SystemdUnitsVerifyAndScoreAsHardened) {
  if (::access("/usr/bin/systemd-analyze", X_OK) != 0) GTEST_SKIP() << "systemd-analyze missing";
  const std::string dir = private_dir("units");
  write_file(dir + "/okq.socket", read_file(kDeploy + "/systemd/okq.socket"));
  // The unit names the installed binary; the test names the one just built.
  write_file(dir + "/okq.service",
             replace_all(replace_all(read_file(kDeploy + "/systemd/okq.service.in"),
                                     "@BINDIR@/okq-server", server_bin()),
                         "@SYSCONFDIR@", kDeploy + "/config"));
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

// The shipped logrotate file for a log at `log` and a pid file in `dir`
// (where the shipped one says /var/log/okq and /run/okq).
std::string shipped_logrotate(const std::string& dir, const std::string& log) {
  std::string conf = read_file(kDeploy + "/logrotate/okq");
  conf = replace_all(conf, "/var/log/okq/*.log", log);
  return replace_all(conf, "/run/okq/okq.pid", dir + "/okq.pid");
}

// Runs logrotate --force on `conf` with PATH set to `path` (the postrotate
// script's commands come from there).
int rotate_with(const std::string& dir, const std::string& conf, const std::string& path) {
  Process rotate({"/usr/bin/env", "PATH=" + path, "/usr/sbin/logrotate", "--force", "--state",
                  dir + "/state", conf});
  const auto code = rotate.wait(30s);
  EXPECT_EQ(code, 0) << rotate.err() << rotate.out();
  return code.value_or(-1);
}

// Without systemd (no service manager answers for okq.service) the shipped
// file signals the server its pid file names, and with systemd the service:
// here a stand-in systemctl that says okq.service is active and records
// what it was asked. Either way the server reopens its log; a second
// rotation finds lines in the new file, not an empty one skipped forever.
TEST(Deploy, LogrotateSignalsTheServerWithAndWithoutSystemd) {
  if (::access("/usr/sbin/logrotate", X_OK) != 0) GTEST_SKIP() << "logrotate missing";
  const std::string dir = private_dir("rotate-paths");
  const std::string log = dir + "/okq.log";
  TestServer server({"--log-file", log, "--pidfile", dir + "/okq.pid"});
  write_file(dir + "/okq.conf", shipped_logrotate(dir, log));
  const std::string plain_path = "/usr/sbin:/usr/bin:/sbin:/bin";
  ASSERT_EQ(rotate_with(dir, dir + "/okq.conf", dir + "/none:" + plain_path), 0);
  EXPECT_NE(wait_for_file(log, "log file reopened").find("Hangup: log file reopened"),
            std::string::npos)
      << "no systemd: the pid file's server was not signalled";
  // With systemd: systemctl is what signals.
  ::mkdir((dir + "/bin").c_str(), 0755);
  write_file(dir + "/bin/systemctl",
             "#!/bin/sh\necho \"$*\" >> " + dir + "/systemctl.calls\n" +
                 "case \"$*\" in\n  'is-active --quiet okq.service') exit 0 ;;\n" +
                 "  'kill --signal=HUP okq.service') exec kill -HUP " +
                 std::to_string(server.process().pid()) + " ;;\nesac\nexit 1\n");
  ASSERT_EQ(::chmod((dir + "/bin/systemctl").c_str(), 0755), 0);
  ::unlink((dir + "/okq.pid.moved").c_str());
  ASSERT_EQ(::rename((dir + "/okq.pid").c_str(), (dir + "/okq.pid.moved").c_str()), 0);
  ASSERT_EQ(rotate_with(dir, dir + "/okq.conf", dir + "/bin:" + plain_path), 0);
  EXPECT_NE(wait_for_file(log, "log file reopened").find("Hangup: log file reopened"),
            std::string::npos)
      << "systemd: the service was not signalled";
  EXPECT_EQ(read_file(dir + "/systemctl.calls"),
            "is-active --quiet okq.service\nkill --signal=HUP okq.service\n");
  ASSERT_EQ(::rename((dir + "/okq.pid.moved").c_str(), (dir + "/okq.pid").c_str()), 0);
  EXPECT_EQ(server.stop(), 0);
}

// logrotate --force with the shipped file while a client is being served:
// the lines after the rotation land in the new file; none is lost or split.
TEST(Deploy, LogrotateUnderLoadLosesAndSplitsNoLine) {
  if (::access("/usr/sbin/logrotate", X_OK) != 0) GTEST_SKIP() << "logrotate missing";
  const std::string dir = private_dir("rotate");
  const std::string log = dir + "/okq.log";
  TestServer server({"--log-file", log, "--trace", "--pidfile", dir + "/okq.pid"});
  write_file(dir + "/okq.conf", shipped_logrotate(dir, log));

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
  rotate_with(dir, dir + "/okq.conf", "/usr/sbin:/usr/bin:/sbin:/bin");
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
// `bindir`: where the installed unit must say the server is.
void expect_layout(const std::string& root, const std::string& etc, const std::string& units,
                   const std::string& usr, const std::string& bindir, const std::string& confdir) {
  for (const char* prog : {"okq-server", "okq-client", "okq-bench"}) {
    EXPECT_TRUE(is_file(usr + "/bin/" + prog, true)) << prog;
    EXPECT_TRUE(is_file(usr + "/share/man/man1/" + prog + std::string(".1.gz"))) << prog;
  }
  EXPECT_TRUE(is_file(units + "/okq.service")) << units;
  const std::string unit = read_file(units + "/okq.service");
  EXPECT_NE(unit.find("\nExecStart=" + bindir + "/okq-server "), std::string::npos) << unit;
  for (const char* placeholder : {"@BINDIR@", "@SYSCONFDIR@"})
    EXPECT_EQ(unit.find(placeholder), std::string::npos) << placeholder << " left in: " << unit;
  EXPECT_NE(unit.find(" --config " + confdir + "/okq.conf\n"), std::string::npos) << unit;
  EXPECT_EQ(read_file(etc + "/okq/okq.conf"), read_file(kDeploy + "/config/okq.conf"));
  EXPECT_TRUE(is_file(units + "/okq.socket")) << units;
  EXPECT_EQ(read_file(etc + "/logrotate.d/okq"), read_file(kDeploy + "/logrotate/okq"));
  EXPECT_TRUE(is_file(usr + "/share/doc/okq/copyright")) << root;
  EXPECT_TRUE(is_file(usr + "/share/doc/okq/examples/haproxy.cfg")) << root;
}

// The newest modification time of the files a package is built from.
std::filesystem::file_time_type newest_source() {
  auto newest = std::filesystem::file_time_type::min();
  for (const char* dir : {"src", "apps", "deploy", "docs/man"})
    for (const auto& e :
         std::filesystem::recursive_directory_iterator(std::string(OKQ_SOURCE_DIR) + "/" + dir))
      if (e.is_regular_file()) newest = std::max(newest, e.last_write_time());
  return std::max(
      newest, std::filesystem::last_write_time(std::string(OKQ_SOURCE_DIR) + "/CMakeLists.txt"));
}

// make deb (which make test runs first, lintian included) builds the package;
// unpacked into a scratch root it has every file where Debian looks for it,
// the unit starts the binary it installs with the configuration it installs,
// the logrotate file and okq.conf are conffiles,
// the maintainer scripts enable and restart the units as dh_installsystemd's
// do, the dependencies came from the binaries, and the installed server runs.
TEST(Deploy, DebianPackageInstallsWhereDebianLooks) {
#ifdef OKQ_SANITIZER_BUILD
  GTEST_SKIP() << "the package is built without sanitizers: make test checks it";
#endif
  const std::string deb = std::string(OKQ_BUILD_DIR) + "/okq_" + kVersion + "_amd64.deb";
  ASSERT_EQ(::access(deb.c_str(), R_OK), 0)
      << "no package: make test runs make deb (" << deb << ")";
  ASSERT_GE(std::filesystem::last_write_time(deb), newest_source())
      << "the package is older than its sources: run make deb";
  const std::string root = private_dir("deb");
  output_of({"/usr/bin/dpkg-deb", "-x", deb, root});
  expect_layout(root, root + "/etc", root + "/lib/systemd/system", root + "/usr", "/usr/bin",
                "/etc/okq");
  EXPECT_EQ(output_of({"/usr/bin/dpkg-deb", "-f", deb, "Package", "Version", "Architecture"}),
            "Package: okq\nVersion: " + std::string(kVersion) + "\nArchitecture: amd64\n");
  const std::string depends = output_of({"/usr/bin/dpkg-deb", "-f", deb, "Depends"});
  EXPECT_NE(depends.find("liburing2"), std::string::npos) << depends;
  EXPECT_NE(depends.find("libfmt9"), std::string::npos) << depends;
  EXPECT_NE(depends.find("init-system-helpers"), std::string::npos) << depends;
  const std::string control = root + "-control";
  output_of({"/usr/bin/dpkg-deb", "-e", deb, control});
  EXPECT_EQ(read_file(control + "/conffiles"), "/etc/logrotate.d/okq\n/etc/okq/okq.conf\n");
  for (const char* script : {"postinst", "prerm", "postrm"})
    EXPECT_TRUE(is_file(control + "/" + script, true)) << script;
  const std::string postinst = read_file(control + "/postinst");
  EXPECT_NE(postinst.find("deb-systemd-helper enable \"$unit\""), std::string::npos) << postinst;
  EXPECT_NE(postinst.find("action=restart"), std::string::npos) << postinst;
  EXPECT_NE(read_file(control + "/prerm").find("deb-systemd-invoke stop okq.service"),
            std::string::npos);
  EXPECT_NE(read_file(control + "/postrm").find("deb-systemd-helper purge"), std::string::npos);
  EXPECT_EQ(output_of({root + "/usr/bin/okq-server", "--version"}),
            "okq-server " + std::string(kVersion) + "\n");
  const std::string check = output_of(
      {root + "/usr/bin/okq-server", "--check-config", "--config", root + "/etc/okq/okq.conf"});
  EXPECT_NE(check.find("the configuration is valid"), std::string::npos) << check;
}

// make install PREFIX=P DESTDIR=D puts everything under D/P, and the unit
// it installs runs P/bin/okq-server.
TEST(Deploy, InstallWithAPrefixStaysUnderItAndTheUnitNamesIt) {
  const std::string prefix = private_dir("prefix");
  output_of({OKQ_CMAKE, "--install", OKQ_BUILD_DIR, "--prefix", prefix});
  expect_layout(prefix, prefix + "/etc", prefix + "/lib/systemd/system", prefix, prefix + "/bin",
                prefix + "/etc/okq");
  EXPECT_EQ(output_of({prefix + "/bin/okq-client", "--version"}),
            "okq-client " + std::string(kVersion) + "\n");
  const std::string dest = private_dir("destdir");
  const std::string out = output_of({"/usr/bin/env", "DESTDIR=" + dest, OKQ_CMAKE, "--install",
                                     OKQ_BUILD_DIR, "--prefix", "/opt/okq"});
  expect_layout(dest, dest + "/opt/okq/etc", dest + "/opt/okq/lib/systemd/system",
                dest + "/opt/okq", "/opt/okq/bin", "/opt/okq/etc/okq");
  EXPECT_NE(out.find("logrotate reads /etc/logrotate.d only"), std::string::npos) << out;
}

}  // namespace
}  // namespace okq::test
