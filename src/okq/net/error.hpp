// error.hpp -- net::Error, the one error of okq's socket layer: which call failed,
// on which address, and why ("cannot bind 0.0.0.0:4242: Address already in use").
#pragma once

#include <stdexcept>
#include <string>

namespace okq::net {

// The step that failed; the programs map it to their exit codes.
enum class Call { Parse, Resolve, Socket, Bind, Listen, Connect, Send, Recv };

const char* to_string(Call call) noexcept;

// A system call that is not a socket step failed: std::system_error with
// errno and `what` (the call's name), for the process's own plumbing
// (pipes, fork, signalfd).
[[noreturn]] void throw_errno(const char* what);

class Error : public std::runtime_error {
 public:
  // Reason taken from errno value `err` (strerror).
  Error(Call call, const std::string& address, int err);
  // Reason given as text (parse and resolve errors have no errno).
  Error(Call call, const std::string& address, const std::string& reason);

  Call call() const noexcept { return call_; }
  int err() const noexcept { return err_; }

 private:
  Call call_;
  int err_ = 0;
};

}  // namespace okq::net
