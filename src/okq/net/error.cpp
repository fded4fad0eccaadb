// error.cpp -- wording of socket-layer errors.
#include "okq/net/error.hpp"

#include <system_error>

#include <cerrno>

#include <cstring>

namespace okq::net {
namespace {

std::string describe(Call call, const std::string& address, const std::string& reason) {
  const char* verb = "";
  switch (call) {
    case Call::Parse:
      verb = "cannot parse address";
      break;
    case Call::Resolve:
      verb = "cannot resolve";
      break;
    case Call::Socket:
      verb = "cannot create a socket for";
      break;
    case Call::Bind:
      verb = "cannot bind";
      break;
    case Call::Listen:
      verb = "cannot listen on";
      break;
    case Call::Connect:
      verb = "cannot connect to";
      break;
    case Call::Send:
      verb = "cannot send to";
      break;
    case Call::Recv:
      verb = "cannot receive from";
      break;
  }
  return std::string(verb) + " " + address + ": " + reason;
}

}  // namespace

const char* to_string(Call call) noexcept {
  switch (call) {
    case Call::Parse:
      return "parse";
    case Call::Resolve:
      return "resolve";
    case Call::Socket:
      return "socket";
    case Call::Bind:
      return "bind";
    case Call::Listen:
      return "listen";
    case Call::Connect:
      return "connect";
    case Call::Send:
      return "send";
    case Call::Recv:
      return "recv";
  }
  return "?";
}

Error::Error(Call call, const std::string& address, int err)
    : std::runtime_error(describe(call, address, std::strerror(err))), call_(call), err_(err) {}

Error::Error(Call call, const std::string& address, const std::string& reason)
    : std::runtime_error(describe(call, address, reason)), call_(call) {}

void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace okq::net
