// Integration: okq-server-nolibc and okq-client-nolibc, the tutorial's
// programs on raw system calls: freestanding, small, and speaking classic
// framing with okq's own programs byte for byte, both ways.
#include <elf.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include "../support/okq.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

#ifdef OKQ_NOLIBC_BINS
#define SKIP_WITHOUT_NOLIBC() (void)0
const std::string kServer = OKQ_NOLIBC_SERVER;
const std::string kClient = OKQ_NOLIBC_CLIENT;
#else
#define SKIP_WITHOUT_NOLIBC() GTEST_SKIP() << "the nolibc programs are built on x86-64 only"
const std::string kServer, kClient;
#endif

// Waits until a socket listens on `port` (IPv4), without connecting to it:
// these servers serve one client, and a probe would be that client.
bool listening(std::uint16_t port) {
  char local[16];
  std::snprintf(local, sizeof local, ":%04X", port);
  for (int i = 0; i < 500; ++i) {
    std::ifstream tcp("/proc/net/tcp");
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

TEST(Nolibc, BinariesAreStaticStrippedAndUnder16KiB) {
  SKIP_WITHOUT_NOLIBC();
  for (const auto& path : {kServer, kClient}) {
    const std::string elf = read_file(path);
    ASSERT_GT(elf.size(), sizeof(Elf64_Ehdr)) << path;
    EXPECT_LT(elf.size(), 16u * 1024) << path;
    std::cout << path << ": " << elf.size() << " bytes\n";
    Elf64_Ehdr eh;
    std::memcpy(&eh, elf.data(), sizeof eh);
    ASSERT_EQ(std::memcmp(eh.e_ident, ELFMAG, SELFMAG), 0);
    EXPECT_EQ(eh.e_machine, EM_X86_64);
    for (int i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr ph;
      std::memcpy(&ph, elf.data() + eh.e_phoff + static_cast<std::size_t>(i) * eh.e_phentsize,
                  sizeof ph);
      EXPECT_NE(ph.p_type, PT_DYNAMIC) << path << " has a dynamic section";
      EXPECT_NE(ph.p_type, PT_INTERP) << path << " asks for a dynamic loader";
    }
    for (int i = 0; i < eh.e_shnum; ++i) {  // stripped: no symbol table left
      Elf64_Shdr sh;
      std::memcpy(&sh, elf.data() + eh.e_shoff + static_cast<std::size_t>(i) * eh.e_shentsize,
                  sizeof sh);
      EXPECT_NE(sh.sh_type, SHT_SYMTAB) << path << " is not stripped";
    }
  }
}

TEST(Nolibc, ClientTalksToOkqServerInClassicFraming) {
  SKIP_WITHOUT_NOLIBC();
  TestServer server({"--classic"});
  Process client({kClient, server.address()});
  client.write_stdin("hello\n");
  ASSERT_TRUE(client.wait_stdout("Server: OK\n"));
  client.write_stdin("Qbye\n");
  EXPECT_EQ(client.wait(), 0) << client.out();
  EXPECT_EQ(client.out(), "Server: OK\nServer: Qbye\n");
}

TEST(Nolibc, ServerAnswersOkqClientByteForByte) {
  SKIP_WITHOUT_NOLIBC();
  const auto port = unused_port();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  Process again({kServer, addr});
  ASSERT_TRUE(listening(port));
  RawClient raw(port);
  raw.send(std::string("hi\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20));
  EXPECT_EQ(raw.read_exact(2), "OK");
  raw.send(std::string("Qx\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20));
  EXPECT_EQ(raw.read_to_eof(), std::string("Qx\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20));
  EXPECT_EQ(again.wait(), 0);

  // okq-client --classic against a new one: the same exchange through the real client.
  Process third({kServer, addr});
  ASSERT_TRUE(listening(port));
  Process client({client_bin(), "--classic", addr});
  client.write_stdin("hello\n");
  ASSERT_TRUE(client.wait_stdout("Server: OK\n")) << client.err();
  client.write_stdin("Qbye\n");
  EXPECT_EQ(client.wait(), 0) << client.err();
  EXPECT_EQ(client.out(), "Server: OK\nServer: Qbye\n");
  EXPECT_EQ(third.wait(), 0);
}

// Out of descriptors, accept fails and the connection stays queued: the
// server waits and asks again instead of spinning at 100% of a CPU.
// The descriptors a child of this process starts with: 0-2, and whatever
// this process holds without close-on-exec (a test runner may leak some).
std::set<int> inherited_descriptors() {
  std::set<int> fds{0, 1, 2};
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fdinfo")) {
    const int fd = std::stoi(e.path().filename().string());
    std::istringstream info(read_file(e.path().string()));
    std::string key;
    unsigned long flags = 0;
    while (info >> key)
      if (key == "flags:") info >> std::oct >> flags;
    if (fd > 2 && (flags & 02000000) == 0) fds.insert(fd);  // 02000000: O_CLOEXEC
  }
  return fds;
}

// Out of descriptors, accept fails and the connection stays queued: the
// server waits and asks again instead of spinning at 100% of a CPU.
TEST(Nolibc, ServerOutOfDescriptorsDoesNotSpin) {
  SKIP_WITHOUT_NOLIBC();
  if (::access("/usr/bin/prlimit", X_OK) != 0) GTEST_SKIP() << "prlimit is not installed";
  const auto port = unused_port();
  // Room for the listener (the lowest free descriptor) and nothing after it.
  const auto taken = inherited_descriptors();
  int listener = 0;
  while (taken.count(listener)) ++listener;
  const std::string limit = std::to_string(listener + 1);
  Process server({"/usr/bin/prlimit", "--nofile=" + limit + ":" + limit, kServer,
                  "127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(listening(port)) << server.out() << server.err();
  RawClient waiting(port);
  std::this_thread::sleep_for(200ms);
  const double before = cpu_seconds(server.pid());
  std::this_thread::sleep_for(1s);
  EXPECT_LT(cpu_seconds(server.pid()) - before, 0.2) << "spins while accept fails";
  server.signal(SIGTERM);
}

TEST(Nolibc, ErrorsKeepTheTutorialsMessagesAndExitCodes) {
  SKIP_WITHOUT_NOLIBC();
  Process refused({kClient, "127.0.0.1:" + std::to_string(unused_port())});
  EXPECT_EQ(refused.wait(), 2);
  EXPECT_EQ(refused.out(), "Problem with connect!\n");
  Process bad({kClient, "1.2.3"});
  EXPECT_EQ(bad.wait(), 3);
  EXPECT_EQ(bad.out(), "Problem with inet_aton!\n");
  TestServer busy;
  Process taken({kServer, busy.address()});
  EXPECT_EQ(taken.wait(), 2);
  EXPECT_EQ(taken.out(), "Problem with bind!\n");
}

TEST(Nolibc, ServerClosedBeforeQIsARecvError) {
  SKIP_WITHOUT_NOLIBC();
  RawListener fake;
  Process client({kClient, "127.0.0.1:" + std::to_string(fake.port())});
  client.write_stdin("hello\n");
  {
    RawClient conn = fake.accept();
    EXPECT_EQ(conn.read_exact(20).size(), 20u);
  }  // closed without a reply
  EXPECT_EQ(client.wait(), 5);
  EXPECT_EQ(client.out(), "Problem with recv!\n");
}

}  // namespace
}  // namespace okq::test
