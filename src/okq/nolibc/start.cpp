// start.cpp -- what a C library would provide: _start, memset, memcpy.
#include "okq/nolibc/sys.hpp"

asm(".globl _start\n"
    "_start:\n"
    "  xor %rbp, %rbp\n"
    "  mov %rsp, %rdi\n"  // argc, argv... for okq_main
    "  and $-16, %rsp\n"  // the ABI's stack alignment for the call
    "  call okq_main\n"
    "  hlt\n");

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
