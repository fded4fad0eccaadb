// okq.cpp -- locating and starting the okq binaries.
#include "okq.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace okq::test {
namespace {

std::vector<std::string> server_argv(const std::vector<std::string>& args, bool own_listen) {
  std::vector<std::string> argv{server_bin(), "--foreground"};
  // The suite runs once per worker count (tests/CMakeLists.txt).
  const char* threads = std::getenv("OKQ_TEST_THREADS");
  if (threads && std::find(args.begin(), args.end(), "--threads") == args.end())
    argv.insert(argv.end(), {"--threads", threads});
  if (!own_listen) argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

std::string server_bin() {
  return OKQ_SERVER_BIN;
}
std::string client_bin() {
  return OKQ_CLIENT_BIN;
}

std::string bench_bin() {
  return OKQ_BENCH_BIN;
}

std::uint16_t listening_port(const std::string& log, const std::string& prefix) {
  const std::string key = "listening on " + prefix;
  const auto at = log.find(key);
  if (at == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::stoi(log.substr(at + key.size())));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string wait_for_file(const std::string& path, const std::string& needle,
                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::string text = read_file(path);
    if (text.find(needle) != std::string::npos || std::chrono::steady_clock::now() >= deadline)
      return text;
    std::this_thread::sleep_for(10ms);
  }
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  out.reserve(s.size() * static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::size_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {  // fields 14 and 15, after "pid (comm)"
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

TestServer::TestServer(const std::vector<std::string>& args) : TestServer(args, false) {}

TestServer::TestServer(const std::vector<std::string>& args, bool own_listen)
    : process_(server_argv(args, own_listen)) {
  const auto argv = server_argv(args, own_listen);
  const auto flag = std::find(argv.begin(), argv.end(), "--threads");
  threads_ = flag != argv.end() && flag + 1 != argv.end()
                 ? std::stoul(*(flag + 1))
                 : std::max(1u, std::thread::hardware_concurrency());
  // With --log-file the log, and so the port, is in that file.
  const auto log_flag = std::find(args.begin(), args.end(), "--log-file");
  if (log_flag != args.end() && log_flag + 1 != args.end()) {
    const std::string log = wait_for_file(*(log_flag + 1), "listening on ");
    const auto line_end = log.find('\n', log.find("listening on "));
    port_ = line_end == std::string::npos ? 0 : listening_port(log);
    if (port_ == 0) throw std::runtime_error("okq-server did not start: " + log + process_.err());
    return;
  }
  if (!process_.wait_stderr("listening on "))
    throw std::runtime_error("okq-server did not start: " + process_.err());
  // The line is complete once its newline is there.
  process_.wait_stderr("\n");
  port_ = listening_port(process_.err());
}

TestServer::~TestServer() {
  if (process_.wait(0ms, false)) return;  // the test already saw it end
  const auto code = stop();
  if (code != 0)
    ADD_FAILURE() << "okq-server did not stop cleanly at the end of the test: "
                  << (code ? "exit " + std::to_string(*code) : "still running") << "\n"
                  << process_.err();
}

std::optional<int> TestServer::stop(std::chrono::milliseconds timeout) {
  process_.signal(SIGTERM);
  return process_.wait(timeout);
}

}  // namespace okq::test
