// process.hpp -- Process: a child program for integration tests, with its stdin
// as a pipe and its stdout/stderr collected by a reader thread, so a test can
// wait for a line with a deadline instead of sleeping and hoping.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "okq/net/fd.hpp"

namespace okq::test {

using namespace std::chrono_literals;

class Process {
 public:
  explicit Process(const std::vector<std::string>& argv);
  // SIGKILLs and reaps the child if it is still running, then fails the
  // current test if the child printed a sanitizer report (ASan, LSan, UBSan,
  // TSan): a report from a server child is a failure even when every reply
  // the test checked was right.
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  void write_stdin(std::string_view bytes);
  void close_stdin();
  void signal(int sig);

  // Waits until stdout / stderr contains `needle`; false on timeout.
  bool wait_stdout(std::string_view needle, std::chrono::milliseconds timeout = 10s);
  bool wait_stderr(std::string_view needle, std::chrono::milliseconds timeout = 10s);
  // Exit code (128 + signal if killed), or nullopt on timeout. With
  // collect_output, also waits for the child's output pipes to reach EOF.
  std::optional<int> wait(std::chrono::milliseconds timeout = 10s, bool collect_output = true);

  // Waits until both output pipes reach EOF: no process, the child or one it
  // left behind, holds them any more. False on timeout.
  bool wait_output_closed(std::chrono::milliseconds timeout = 5s);

  std::string out() const;
  std::string err() const;

 private:
  bool wait_for(const std::string& stream, std::string_view needle,
                std::chrono::milliseconds timeout);
  void drain();

  std::string name_;
  pid_t pid_ = -1;
  std::optional<int> status_;
  net::Fd stdin_;
  net::Fd stdout_;
  net::Fd stderr_;
  net::Fd wake_read_, wake_write_;  // tells the reader thread to stop
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string out_, err_;
  bool pipes_closed_ = false;
  std::thread reader_;
};

// The first sanitizer report in `output`, or "" if there is none.
std::string sanitizer_report(const std::string& output);

// Makes this process the reaper of orphaned descendants, so a server that
// backgrounds itself becomes our child and can be waited for.
void become_subreaper();

// Waits (bounded) for a descendant that is not a Process to exit; its status or nullopt.
std::optional<int> wait_pid(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace okq::test
