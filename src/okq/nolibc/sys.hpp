// sys.hpp -- the kernel, called directly (arch/x86_64.hpp: `syscall`, one
// system call per network function; arch/i386.hpp: `int 0x80` and
// sys_socketcall, as the tutorial's int 80h section shows), a hand-made htons
// and dotted-quad parser, and the few bytes-and-strings helpers a program
// without a C library needs. Freestanding: no libc, no exceptions.
#pragma once

#if defined(__x86_64__)
#include "okq/nolibc/arch/x86_64.hpp"
#elif defined(__i386__)
#include "okq/nolibc/arch/i386.hpp"
#else
#error "okq's nolibc programs are for x86-64 and i386"
#endif

// The file calls, the same on both: only their numbers differ.
namespace okq::nolibc::arch {

inline long read(long fd, void* p, long n) {
  return sys(kRead, fd, reinterpret_cast<long>(p), n);
}
inline long write(long fd, const void* p, long n) {
  return sys(kWrite, fd, reinterpret_cast<long>(p), n);
}
inline long close(long fd) {
  return sys(kClose, fd);
}
inline long nanosleep(const long* duration) {
  return sys(kNanosleep, reinterpret_cast<long>(duration), 0);
}
[[noreturn]] inline void exit(int code) {
  for (;;) sys(kExit, code);
}

}  // namespace okq::nolibc::arch

namespace okq::nolibc {

using arch::exit;
using arch::size_t;

constexpr long kAfInet = 2, kSockStream = 1, kSolSocket = 1, kSoReuseaddr = 2, kShutWr = 1;
constexpr long kMsgNosignal = 0x4000;  // a vanished peer is an error, not SIGPIPE
constexpr long kEintr = 4;
// accept(2) failures that last (out of descriptors or memory): retrying at
// once would spin, since the connection stays queued.
constexpr long kEmfile = 24, kEnfile = 23, kEnobufs = 105, kEnomem = 12;

// `call()` again while a signal interrupts it, like every okq wrapper.
template <class Call>
inline long retry(Call call) {
  long r;
  do r = call();
  while (r == -kEintr);
  return r;
}

struct SockaddrIn {
  unsigned short family;
  unsigned short port;  // network order
  unsigned int addr;    // network order
  unsigned char zero[8];
};

// The tutorial builds htons by hand; so does this.
constexpr unsigned short htons(unsigned short v) {
  return static_cast<unsigned short>((v << 8) | (v >> 8));
}

// The tutorial's address: IPv4, port 4242, 0.0.0.0 until parse_address says otherwise.
constexpr SockaddrIn seed_address() {
  return SockaddrIn{kAfInet, htons(4242), 0, {}};
}

// The program's first argument (argv[1]), or nullptr. `stack` is what _start
// found: argc, then argv.
inline const char* first_argument(long* stack) {
  return stack[0] > 1 ? reinterpret_cast<char**>(stack + 1)[1] : nullptr;
}

inline size_t length(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

inline void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const long w = retry([&] { return arch::write(fd, p, static_cast<long>(n)); });
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// send() of all `n` bytes (sendto without an address), never raising
// SIGPIPE; false if the peer is gone.
inline bool send_all(long fd, const char* p, long n) {
  for (long sent = 0; sent < n;) {
    const long w = retry([&] { return arch::send(fd, p + sent, n - sent, kMsgNosignal); });
    if (w <= 0) return false;
    sent += w;
  }
  return true;
}

inline void say(const char* s) {
  write_all(1, s, length(s));  // the tutorial's programs report on standard output
}

// "A.B.C.D" or "A.B.C.D:PORT" into `out` (port kept when absent). False if
// it is not that: inet_aton's job, by hand.
inline bool parse_address(const char* s, SockaddrIn& out) {
  unsigned int addr = 0;
  for (int part = 0; part < 4; ++part) {
    if (*s < '0' || *s > '9') return false;
    unsigned int v = 0;
    for (int digits = 0; *s >= '0' && *s <= '9'; ++s, ++digits) {
      if (digits == 3) return false;
      v = v * 10 + static_cast<unsigned int>(*s - '0');
    }
    if (v > 255) return false;
    addr = addr << 8 | v;
    if (part < 3 && *s++ != '.') return false;
  }
  if (*s == ':') {
    ++s;
    unsigned int port = 0;
    if (*s < '0' || *s > '9') return false;
    for (; *s >= '0' && *s <= '9'; ++s) {
      port = port * 10 + static_cast<unsigned int>(*s - '0');
      if (port > 65535) return false;
    }
    out.port = htons(static_cast<unsigned short>(port));
  }
  if (*s != '\0') return false;
  out.addr = (addr >> 24) | ((addr >> 8) & 0xff00) | ((addr << 8) & 0xff0000) | (addr << 24);
  return true;
}

}  // namespace okq::nolibc

// The compiler may call these for copies and zeroing even when freestanding.
extern "C" void* memset(void* d, int c, okq::nolibc::size_t n);
extern "C" void* memcpy(void* d, const void* s, okq::nolibc::size_t n);

// Entry: the kernel's stack holds argc, then argv. _start passes its address.
extern "C" [[noreturn]] void okq_main(long* stack);
