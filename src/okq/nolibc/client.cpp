// client.cpp -- okq-client-nolibc (x86-64) and okq-client-nolibc-i386: the
// tutorial's client on raw system calls.
// Connects to 127.0.0.1:4242 (or the A.B.C.D[:PORT] given); each read of up
// to 20 bytes of standard input is sent as exactly 20 bytes, zero-padded;
// one read of up to 20 bytes is the reply, printed as "Server: REPLY" (NULs
// and a final LF dropped); exit 0 after a reply starting with 'Q', or at the
// end of input. Errors: "Problem with socket!" / "connect!" / "inet_aton!" /
// "send!" / "recv!", exit 1 / 2 / 3 / 4 / 5. Unlike the seed: no stale
// bytes, no NULs printed, no SIGPIPE.
#include "okq/nolibc/sys.hpp"

using namespace okq::nolibc;

namespace {

constexpr long kFrame = 20;

[[noreturn]] void fail(const char* message, int code) {
  say(message);
  exit(code);
}

void print_reply(const char* reply, long n) {
  char line[8 + kFrame + 1] = {'S', 'e', 'r', 'v', 'e', 'r', ':', ' '};
  size_t len = 8;
  for (long i = 0; i < n; ++i)
    if (reply[i] != '\0') line[len++] = reply[i];
  if (len > 8 && line[len - 1] == '\n') --len;
  if (len > 8 && line[len - 1] == '\r') --len;
  line[len++] = '\n';
  write_all(1, line, len);
}

}  // namespace

extern "C" [[noreturn]] void okq_main(long* stack) {
  const char* target = first_argument(stack);
  SockaddrIn addr = seed_address();
  const long fd = arch::socket(kAfInet, kSockStream, 0);
  if (fd < 0) fail("Problem with socket!\n", 1);
  if (!parse_address(target ? target : "127.0.0.1", addr)) fail("Problem with inet_aton!\n", 3);
  if (retry([&] { return arch::connect(fd, &addr, sizeof addr); }) < 0)
    fail("Problem with connect!\n", 2);
  char frame[kFrame],
      reply[kFrame] = {};  // zeroed once: the analyzer cannot see the kernel fill it
  for (;;) {
    memset(frame, 0, sizeof frame);  // never stale bytes from the last message
    const long got = retry([&] { return arch::read(0, frame, kFrame); });
    if (got <= 0) break;  // end of input: nothing is owed in lockstep
    if (!send_all(fd, frame, kFrame)) fail("Problem with send!\n", 4);
    const long n = retry([&] { return arch::recv(fd, reply, kFrame, 0); });
    if (n <= 0) fail("Problem with recv!\n", 5);  // 0: closed before Q
    print_reply(reply, n);
    if (reply[0] == 'Q') break;
  }
  arch::shutdown(fd, kShutWr);
  arch::close(fd);
  exit(0);
}
