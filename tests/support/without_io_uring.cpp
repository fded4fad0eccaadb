// without_io_uring.cpp -- okq-without-io-uring PROGRAM ARGS...: runs PROGRAM
// with io_uring_setup refused (EPERM) by a seccomp filter, as a container
// runtime's default profile or kernel.io_uring_disabled would refuse it, so
// tests can show what okq-server does on such a machine without changing
// the machine. The filter binds the process and everything it starts.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: okq-without-io-uring PROGRAM ARGS...\n");
    return 64;
  }
  // Native system call numbers only: the programs tests run are native.
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    std::fprintf(stderr, "okq-without-io-uring: seccomp: %s\n", std::strerror(errno));
    return 71;
  }
  ::execv(argv[1], argv + 1);
  std::fprintf(stderr, "okq-without-io-uring: %s: %s\n", argv[1], std::strerror(errno));
  return 127;
}
