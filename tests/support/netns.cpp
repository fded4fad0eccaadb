#include "netns.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace okq::test {

using namespace std::chrono_literals;

PrivateNetwork::PrivateNetwork() {
  home_ = net::Fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home_) {
    why_not_ = std::string("cannot open /proc/thread-self/ns/net: ") + std::strerror(errno);
    return;
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    why_not_ = std::string("no network namespace of our own (unshare: ") + std::strerror(errno) +
               "; needs root or CAP_SYS_ADMIN)";
    return;
  }
  entered_ = true;
  net::Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq lo{};
  std::strncpy(lo.ifr_name, "lo", IFNAMSIZ - 1);
  if (!s || ::ioctl(s.get(), SIOCGIFFLAGS, &lo) != 0 ||
      (lo.ifr_flags |= IFF_UP, ::ioctl(s.get(), SIOCSIFFLAGS, &lo) != 0))
    why_not_ = std::string("cannot bring up the namespace's loopback: ") + std::strerror(errno);
}

PrivateNetwork::~PrivateNetwork() {
  if (entered_ && ::setns(home_.get(), CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "PrivateNetwork: cannot return to the first namespace: %s\n",
                 std::strerror(errno));
    std::abort();  // every later test would run in the wrong network
  }
}

bool someone_listens(unsigned short port) {
  char local[16];
  std::snprintf(local, sizeof local, ":%04X", port);
  for (int i = 0; i < 500; ++i) {
    std::ifstream tcp("/proc/thread-self/net/tcp");
    std::string line;
    while (std::getline(tcp, line)) {
      std::istringstream fields(line);
      std::string slot, local_addr, remote, state;
      fields >> slot >> local_addr >> remote >> state;
      if (local_addr.ends_with(local) && state == "0A") return true;  // 0A: LISTEN
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

}  // namespace okq::test
