// arch/i386.hpp -- the kernel on 32-bit x86, as the tutorial's int 80h
// section calls it: `int 0x80`, the call's number in EAX, its arguments in
// EBX, ECX, EDX. Every network call goes through the one system call
// sys_socketcall (102): EBX holds the network function's number (socket 1,
// bind 2, connect 3, listen 4, accept 5, send 9, recv 10, shutdown 13,
// setsockopt 14) and ECX the address of its arguments, laid out in memory in
// the order of the C declaration. close is the file close (6).
#pragma once

namespace okq::nolibc::arch {

using size_t = unsigned int;

enum Sys : long {
  kExit = 1,
  kRead = 3,
  kWrite = 4,
  kClose = 6,
  kSocketcall = 102,
  kNanosleep = 162,
};

// sys_socketcall's functions (linux/net.h).
enum Socketcall : long {
  kSocket = 1,
  kBind = 2,
  kConnect = 3,
  kListen = 4,
  kAccept = 5,
  kSend = 9,
  kRecv = 10,
  kShutdown = 13,
  kSetsockopt = 14,
};

inline long sys(long n, long a = 0, long b = 0, long c = 0) {
  long ret;
  asm volatile("int $0x80" : "=a"(ret) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

// The network function `call` with its arguments `args[]`, consecutive in
// memory as they would be on the stack for the C library's function.
template <int N>
inline long socketcall(Socketcall call, const long (&args)[N]) {
  return sys(kSocketcall, call, reinterpret_cast<long>(args));
}

inline long socket(long domain, long type, long protocol) {
  const long args[] = {domain, type, protocol};
  return socketcall(kSocket, args);
}
inline long bind(long fd, const void* addr, long len) {
  const long args[] = {fd, reinterpret_cast<long>(addr), len};
  return socketcall(kBind, args);
}
inline long listen(long fd, long backlog) {
  const long args[] = {fd, backlog};
  return socketcall(kListen, args);
}
inline long accept(long fd) {
  const long args[] = {fd, 0, 0};
  return socketcall(kAccept, args);
}
inline long connect(long fd, const void* addr, long len) {
  const long args[] = {fd, reinterpret_cast<long>(addr), len};
  return socketcall(kConnect, args);
}
inline long send(long fd, const void* p, long n, long flags) {
  const long args[] = {fd, reinterpret_cast<long>(p), n, flags};
  return socketcall(kSend, args);
}
inline long recv(long fd, void* p, long n, long flags) {
  const long args[] = {fd, reinterpret_cast<long>(p), n, flags};
  return socketcall(kRecv, args);
}
inline long setsockopt(long fd, long level, long name, const void* value, long len) {
  const long args[] = {fd, level, name, reinterpret_cast<long>(value), len};
  return socketcall(kSetsockopt, args);
}
inline long shutdown(long fd, long how) {
  const long args[] = {fd, how};
  return socketcall(kShutdown, args);
}

}  // namespace okq::nolibc::arch
