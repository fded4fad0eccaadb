// server.cpp -- okq-server-nolibc (x86-64) and okq-server-nolibc-i386: the
// tutorial's server on raw system calls.
// socket, bind (0.0.0.0:4242, or the A.B.C.D[:PORT] given), listen, accept
// one client; each read of up to 20 bytes is a message: "OK" back, or for a
// first byte 'Q' the message zero-padded to 20 bytes, then close and exit 0.
// Errors: "Problem with socket!" / "bind!" / "listen!", exit 1 / 2 / 3.
// Unlike the seed: no stale bytes, no SIGPIPE, no spinning on a closed peer,
// SO_REUSEADDR for restarts, a backlog of 128, no spinning when accept
// keeps failing. It stays in the foreground.
#include "okq/nolibc/sys.hpp"

using namespace okq::nolibc;

namespace {

constexpr long kFrame = 20;  // the seed's message size
constexpr long kBacklog = 128;

[[noreturn]] void fail(const char* message, int code, long fd) {
  say(message);
  if (fd >= 0) arch::close(fd);
  exit(code);
}

// Serves one client; returns when it sent Q (true) or went away (false).
bool serve(long client) {
  char frame[kFrame];
  for (;;) {
    memset(frame, 0, sizeof frame);  // never stale bytes from the last message
    const long n = retry([&] { return arch::recv(client, frame, kFrame, 0); });
    if (n <= 0) return false;  // EOF or reset: the seed looped here forever
    const bool q = frame[0] == 'Q';
    const char* reply = q ? frame : "OK";
    const long len = q ? kFrame : 2;
    if (!send_all(client, reply, len)) return false;
    if (q) return true;
  }
}

}  // namespace

extern "C" [[noreturn]] void okq_main(long* stack) {
  const char* local = first_argument(stack);
  SockaddrIn addr = seed_address();  // INADDR_ANY unless an address is given
  const long fd = arch::socket(kAfInet, kSockStream, 0);
  if (fd < 0) fail("Problem with socket!\n", 1, -1);
  if (local && !parse_address(local, addr)) fail("Problem with bind!\n", 2, fd);
  const int one = 1;
  arch::setsockopt(fd, kSolSocket, kSoReuseaddr, &one, sizeof one);
  if (arch::bind(fd, &addr, sizeof addr) < 0) fail("Problem with bind!\n", 2, fd);
  if (arch::listen(fd, kBacklog) < 0) fail("Problem with listen!\n", 3, fd);
  long client;
  while ((client = retry([&] { return arch::accept(fd); })) < 0) {
    // A connection that died while queued: wait for the next. Out of
    // descriptors or memory: the same one waits, so pause before asking again.
    const long err = -client;
    if (err == kEmfile || err == kEnfile || err == kEnobufs || err == kEnomem) {
      const long pause[2] = {0, 100 * 1000 * 1000};  // 100 ms, as okq-server pauses
      retry([&] { return arch::nanosleep(pause); });
    }
  }
  serve(client);
  arch::close(client);
  arch::close(fd);
  exit(0);
}
