// start.cpp -- what a C library would provide: _start, memset, memcpy.
#include "okq/nolibc/sys.hpp"

#if defined(__x86_64__)
asm(".globl _start\n"
    "_start:\n"
    "  xor %rbp, %rbp\n"
    "  mov %rsp, %rdi\n"  // argc, argv... for okq_main, in its first register
    "  and $-16, %rsp\n"  // the ABI's stack alignment for the call
    "  call okq_main\n"
    "  hlt\n");
#else
asm(".globl _start\n"
    "_start:\n"
    "  xor %ebp, %ebp\n"
    "  mov %esp, %eax\n"  // argc, argv...
    "  and $-16, %esp\n"  // 16-byte aligned at the call, as GCC assumes
    "  sub $12, %esp\n"
    "  push %eax\n"  // okq_main's one argument, on the stack (cdecl)
    "  call okq_main\n"
    "  hlt\n");
#endif

extern "C" void* memset(void* d, int c, okq::nolibc::size_t n) {
  auto* p = static_cast<volatile unsigned char*>(d);  // volatile: not turned back into memset
  while (n--) *p++ = static_cast<unsigned char>(c);
  return d;
}

extern "C" void* memcpy(void* d, const void* s, okq::nolibc::size_t n) {
  auto* p = static_cast<volatile unsigned char*>(d);
  const auto* q = static_cast<const unsigned char*>(s);
  while (n--) *p++ = *q++;
  return d;
}
