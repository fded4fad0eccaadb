// okq.hpp -- the real okq binaries for integration tests: where they are, and
// TestServer, an okq-server in the foreground on an ephemeral loopback port.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "process.hpp"

namespace okq::test {

std::string server_bin();
std::string client_bin();
std::string bench_bin();
// okq-without-io-uring: runs a program with io_uring_setup refused (a seccomp filter).
std::string without_io_uring_bin();

// --io and --threads of the variant the suite runs under (OKQ_TEST_SERVER),
// for a test that starts okq-server itself; none that `args` already gives.
std::vector<std::string> matrix_args(const std::vector<std::string>& args = {});
// `argv` (a command line that runs okq-server) with matrix_args() appended.
std::vector<std::string> plus_matrix(std::vector<std::string> argv);
// matrix_args() as words for a shell command line.
std::string matrix_words();

// The port of the first "listening on <prefix>PORT" line in `log`, or 0.
std::uint16_t listening_port(const std::string& log, const std::string& prefix = "127.0.0.1:");

// The whole file at `path` ("" if it cannot be read), and its replacement.
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);

// Waits until the file at `path` contains `needle`; returns its text (what
// was there at the deadline if it never did).
std::string wait_for_file(const std::string& path, const std::string& needle,
                          std::chrono::milliseconds timeout = 10s);

// A new directory of the test's own, mode 0700 (logrotate refuses
// world-writable parents such as /tmp).
std::string private_dir(const std::string& name);
// A path in the test temporary directory for `name`, unique to this process
// (nothing is created).
std::string temp_path(const std::string& name);

// `s` with every `from` replaced by `to`.
std::string replace_all(std::string s, const std::string& from, const std::string& to);

// How many times `needle` occurs in `text`.
std::size_t occurrences(const std::string& text, const std::string& needle);

// A number field of okq-bench's --json report (an added test failure and 0
// when it is not there).
std::uint64_t json_field(const std::string& json, const std::string& name);

// `s` n times over.
std::string repeat(const std::string& s, int n);

// Resident memory (KiB) and CPU time (user + system, seconds) of a process.
std::size_t rss_kib(pid_t pid);
double cpu_seconds(pid_t pid);
// How many sockets a process holds open (from /proc; 0 once it is gone).
std::size_t sockets_of(pid_t pid);

class TestServer {
 public:
  // okq-server -f -l 127.0.0.1:0 ARGS...; waits until it logs its port.
  // With OKQ_TEST_SERVER=IO/THREADS set, --io IO --threads THREADS unless ARGS
  // say otherwise.
  explicit TestServer(const std::vector<std::string>& args = {});
  // okq-server -f ARGS... (the caller gives the listen addresses unless
  // !own_listen), started through WRAPPER... (a program that execs the rest).
  TestServer(const std::vector<std::string>& args, bool own_listen,
             const std::vector<std::string>& wrapper = {});
  // A server still running is stopped with SIGTERM, not killed, so that it
  // runs its exit path (and LeakSanitizer, in sanitizer builds); it must exit 0.
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  // The workers it runs (--threads, OKQ_TEST_SERVER, or the CPUs it may use).
  std::size_t threads() const noexcept { return threads_; }
  // The --io it was started with ("auto" when none).
  const std::string& io() const noexcept { return io_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  Process& process() noexcept { return process_; }
  // SIGTERM, then the exit code (nullopt if it did not exit in time).
  std::optional<int> stop(std::chrono::milliseconds timeout = 10s);

 private:
  Process process_;
  std::uint16_t port_ = 0;
  std::size_t threads_ = 1;
  std::string io_ = "auto";
};

}  // namespace okq::test
