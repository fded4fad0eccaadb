// okq.cpp -- locating and starting the okq binaries.
#include "okq.hpp"

#include <filesystem>

#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <algorithm>
#include <cstdlib>
#include <iterator>

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace okq::test {
namespace {

// Under OKQ_TEST_SERVER=io_uring/N on a kernel that refuses io_uring, every
// test is a skip that says why: neither a failure nor a silent pass.
class IoUringAllowed final : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* with = std::getenv("OKQ_TEST_SERVER");
    if (!with || std::string_view(with).substr(0, 9) != "io_uring/") return;
    io_uring_params params{};
    const long fd = ::syscall(__NR_io_uring_setup, 1, &params);
    if (fd < 0) GTEST_SKIP() << "io_uring is not available here: " << std::strerror(errno);
    ::close(static_cast<int>(fd));
  }
};
[[maybe_unused]] const auto* const kIoUringAllowed =
    ::testing::AddGlobalTestEnvironment(new IoUringAllowed);

std::vector<std::string> server_argv(const std::vector<std::string>& args, bool own_listen,
                                     const std::vector<std::string>& wrapper) {
  std::vector<std::string> argv(wrapper);
  argv.insert(argv.end(), {server_bin(), "--foreground"});
  const auto variant = matrix_args(args);
  argv.insert(argv.end(), variant.begin(), variant.end());
  if (!own_listen) argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

std::vector<std::string> matrix_args(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  // The suite runs once per I/O backend and worker count (tests/CMakeLists.txt).
  if (const char* with = std::getenv("OKQ_TEST_SERVER")) {
    const std::string io_threads(with);
    const auto slash = io_threads.find('/');
    if (std::find(args.begin(), args.end(), "--io") == args.end())
      out.insert(out.end(), {"--io", io_threads.substr(0, slash)});
    if (slash != std::string::npos &&
        std::find(args.begin(), args.end(), "--threads") == args.end())
      out.insert(out.end(), {"--threads", io_threads.substr(slash + 1)});
  }
  return out;
}

std::vector<std::string> plus_matrix(std::vector<std::string> argv) {
  const auto extra = matrix_args(argv);
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::string matrix_words() {
  std::string words;
  for (const auto& a : matrix_args()) words += " " + a;
  return words;
}

std::string server_bin() {
  return OKQ_SERVER_BIN;
}
std::string without_io_uring_bin() {
  return OKQ_WITHOUT_IO_URING_BIN;
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

std::string private_dir(const std::string& name) {
  std::string tmpl = ::testing::TempDir() + "okq-" + name + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "okq-" + name + "-" + std::to_string(::getpid());
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::uint64_t json_field(const std::string& json, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + name + "\":([0-9.]+)"))) {
    ADD_FAILURE() << "no " << name << " in " << json;
    return 0;
  }
  return static_cast<std::uint64_t>(std::stod(m[1]));
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

std::size_t sockets_of(pid_t pid) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& fd :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec))
    if (std::filesystem::read_symlink(fd.path(), ec).string().starts_with("socket:")) ++n;
  return n;
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

TestServer::TestServer(const std::vector<std::string>& args, bool own_listen,
                       const std::vector<std::string>& wrapper)
    : process_(server_argv(args, own_listen, wrapper)) {
  const auto argv = server_argv(args, own_listen, wrapper);
  const auto flag = std::find(argv.begin(), argv.end(), "--threads");
  if (const auto io = std::find(argv.begin(), argv.end(), "--io");
      io != argv.end() && io + 1 != argv.end())
    io_ = *(io + 1);
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
