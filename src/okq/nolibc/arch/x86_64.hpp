// arch/x86_64.hpp -- the kernel on x86-64: the `syscall` instruction, every
// network call its own system call (socket 41 ... listen 50, the numbers the
// tutorial lists), arguments in RDI, RSI, RDX, R10, R8, R9.
#pragma once

namespace okq::nolibc::arch {

using size_t = unsigned long;

enum Sys : long {
  kRead = 0,
  kWrite = 1,
  kClose = 3,
  kNanosleep = 35,
  kSocket = 41,
  kConnect = 42,
  kAccept = 43,
  kSendto = 44,
  kRecvfrom = 45,
  kShutdown = 48,
  kBind = 49,
  kListen = 50,
  kSetsockopt = 54,
  kExit = 60,
};

inline long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return ret;
}

inline long socket(long domain, long type, long protocol) {
  return sys(kSocket, domain, type, protocol);
}
inline long bind(long fd, const void* addr, long len) {
  return sys(kBind, fd, reinterpret_cast<long>(addr), len);
}
inline long listen(long fd, long backlog) {
  return sys(kListen, fd, backlog);
}
inline long accept(long fd) {
  return sys(kAccept, fd, 0, 0);
}
inline long connect(long fd, const void* addr, long len) {
  return sys(kConnect, fd, reinterpret_cast<long>(addr), len);
}
// send and recv are sendto and recvfrom without an address.
inline long send(long fd, const void* p, long n, long flags) {
  return sys(kSendto, fd, reinterpret_cast<long>(p), n, flags, 0, 0);
}
inline long recv(long fd, void* p, long n, long flags) {
  return sys(kRecvfrom, fd, reinterpret_cast<long>(p), n, flags, 0, 0);
}
inline long setsockopt(long fd, long level, long name, const void* value, long len) {
  return sys(kSetsockopt, fd, level, name, reinterpret_cast<long>(value), len);
}
inline long shutdown(long fd, long how) {
  return sys(kShutdown, fd, how);
}

}  // namespace okq::nolibc::arch
