// netns.hpp -- PrivateNetwork: the calling thread (and every process it
// starts) in a network namespace of its own, with only a loopback that is
// up, until it goes out of scope. For programs that hard-code the tutorial's
// port 4242 or cannot be told another: there it is free and nobody else's.
#pragma once

#include <string>

#include "okq/net/fd.hpp"

namespace okq::test {

class PrivateNetwork {
 public:
  PrivateNetwork();   // entered() says whether it worked, why_not() why not
  ~PrivateNetwork();  // back to the namespace the thread was in
  PrivateNetwork(const PrivateNetwork&) = delete;
  PrivateNetwork& operator=(const PrivateNetwork&) = delete;

  bool entered() const noexcept { return entered_; }
  const std::string& why_not() const noexcept { return why_not_; }

 private:
  net::Fd home_;
  bool entered_ = false;
  std::string why_not_;
};

// Waits (bounded, 5 s) until something in the calling thread's network
// namespace listens on TCP `port` over IPv4, without connecting to it: for
// servers that serve one client, where a probe would be that client.
bool someone_listens(unsigned short port);

}  // namespace okq::test
