// Integration: the tutorial's programs on raw system calls, both pairs
// (okq-*-nolibc on x86-64 `syscall`, okq-*-nolibc-i386 on `int 0x80` and
// sys_socketcall): freestanding, small, and speaking classic framing byte for
// byte with okq's own programs and with the tutorial's own, both ways.
#include <elf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include "../support/netns.hpp"
#include "../support/okq.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

// One pair of programs: which machine its ELF files are for, and where.
struct Pair {
  std::string arch;
  std::string server, client;
  unsigned char elf_class;
  unsigned short machine;
};

// How gtest names a pair in a test's description: by its machine.
void PrintTo(const Pair& pair, std::ostream* os) {
  *os << pair.arch;
}

std::vector<Pair> pairs() {
#ifdef OKQ_NOLIBC_BINS
  return {{"x86_64", OKQ_NOLIBC_SERVER, OKQ_NOLIBC_CLIENT, ELFCLASS64, EM_X86_64},
          {"i386", OKQ_NOLIBC_SERVER_I386, OKQ_NOLIBC_CLIENT_I386, ELFCLASS32, EM_386}};
#else
  return {};  // the nolibc programs are built on x86-64 only
#endif
}

class Nolibc : public ::testing::TestWithParam<Pair> {
 protected:
  const std::string& nolibc_server() const { return GetParam().server; }
  const std::string& nolibc_client() const { return GetParam().client; }
};

// Static, stripped, no dynamic loader: checked in the ELF file's own class.
template <class Ehdr, class Phdr, class Shdr>
void expect_freestanding_elf(const std::string& path, const std::string& elf,
                             unsigned short machine) {
  ASSERT_GT(elf.size(), sizeof(Ehdr)) << path;
  Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof eh);
  EXPECT_EQ(eh.e_machine, machine) << path;
  EXPECT_EQ(eh.e_type, ET_EXEC) << path << " is not a fixed-address executable";
  for (int i = 0; i < eh.e_phnum; ++i) {
    Phdr ph;
    std::memcpy(&ph, elf.data() + eh.e_phoff + static_cast<std::size_t>(i) * eh.e_phentsize,
                sizeof ph);
    EXPECT_NE(ph.p_type, PT_DYNAMIC) << path << " has a dynamic section";
    EXPECT_NE(ph.p_type, PT_INTERP) << path << " asks for a dynamic loader";
  }
  for (int i = 0; i < eh.e_shnum; ++i) {  // stripped: no symbol table left
    Shdr sh;
    std::memcpy(&sh, elf.data() + eh.e_shoff + static_cast<std::size_t>(i) * eh.e_shentsize,
                sizeof sh);
    EXPECT_NE(sh.sh_type, SHT_SYMTAB) << path << " is not stripped";
  }
}

TEST_P(Nolibc, BinariesAreStaticStrippedAndUnder16KiB) {
  for (const auto& path : {nolibc_server(), nolibc_client()}) {
    const std::string elf = read_file(path);
    ASSERT_GT(elf.size(), std::size_t{EI_NIDENT}) << path;
    EXPECT_LT(elf.size(), 16u * 1024) << path;
    std::cout << path << ": " << elf.size() << " bytes\n";
    ASSERT_EQ(std::memcmp(elf.data(), ELFMAG, SELFMAG), 0) << path;
    ASSERT_EQ(static_cast<unsigned char>(elf[EI_CLASS]), GetParam().elf_class) << path;
    if (GetParam().elf_class == ELFCLASS64)
      expect_freestanding_elf<Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr>(path, elf, GetParam().machine);
    else
      expect_freestanding_elf<Elf32_Ehdr, Elf32_Phdr, Elf32_Shdr>(path, elf, GetParam().machine);
  }
}

TEST_P(Nolibc, ClientTalksToOkqServerInClassicFraming) {
  TestServer server({"--classic"});
  Process client({nolibc_client(), server.address()});
  client.write_stdin("hello\n");
  ASSERT_TRUE(client.wait_stdout("Server: OK\n"));
  client.write_stdin("Qbye\n");
  EXPECT_EQ(client.wait(), 0) << client.out();
  EXPECT_EQ(client.out(), "Server: OK\nServer: Qbye\n");
}

TEST_P(Nolibc, ServerAnswersOkqClientByteForByte) {
  const auto port = unused_port();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  Process again({nolibc_server(), addr});
  ASSERT_TRUE(someone_listens(port));
  RawClient raw(port);
  raw.send(std::string("hi\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20));
  EXPECT_EQ(raw.read_exact(2), "OK");
  raw.send(std::string("Qx\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20));
  EXPECT_EQ(raw.read_to_eof(), std::string("Qx\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20));
  EXPECT_EQ(again.wait(), 0);

  // okq-client --classic against a new one: the same exchange through the real client.
  Process third({nolibc_server(), addr});
  ASSERT_TRUE(someone_listens(port));
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
TEST_P(Nolibc, ServerOutOfDescriptorsDoesNotSpin) {
  if (::access("/usr/bin/prlimit", X_OK) != 0) GTEST_SKIP() << "prlimit is not installed";
  const auto port = unused_port();
  // Room for the listener (the lowest free descriptor) and nothing after it.
  const auto taken = inherited_descriptors();
  int listener = 0;
  while (taken.count(listener)) ++listener;
  const std::string limit = std::to_string(listener + 1);
  Process server({"/usr/bin/prlimit", "--nofile=" + limit + ":" + limit, nolibc_server(),
                  "127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(someone_listens(port)) << server.out() << server.err();
  RawClient waiting(port);
  std::this_thread::sleep_for(200ms);
  const double before = cpu_seconds(server.pid());
  std::this_thread::sleep_for(1s);
  EXPECT_LT(cpu_seconds(server.pid()) - before, 0.2) << "spins while accept fails";
  server.signal(SIGTERM);
}

TEST_P(Nolibc, ErrorsKeepTheTutorialsMessagesAndExitCodes) {
  Process refused({nolibc_client(), "127.0.0.1:" + std::to_string(unused_port())});
  EXPECT_EQ(refused.wait(), 2);
  EXPECT_EQ(refused.out(), "Problem with connect!\n");
  Process bad({nolibc_client(), "1.2.3"});
  EXPECT_EQ(bad.wait(), 3);
  EXPECT_EQ(bad.out(), "Problem with inet_aton!\n");
  TestServer busy;
  Process taken({nolibc_server(), busy.address()});
  EXPECT_EQ(taken.wait(), 2);
  EXPECT_EQ(taken.out(), "Problem with bind!\n");
}

TEST_P(Nolibc, ServerClosedBeforeQIsARecvError) {
  RawListener fake;
  Process client({nolibc_client(), "127.0.0.1:" + std::to_string(fake.port())});
  client.write_stdin("hello\n");
  {
    RawClient conn = fake.accept();
    EXPECT_EQ(conn.read_exact(20).size(), 20u);
  }  // closed without a reply
  EXPECT_EQ(client.wait(), 5);
  EXPECT_EQ(client.out(), "Problem with recv!\n");
}

// The tutorial's own programs (32-bit, NASM, on the C library), assembled by
// ../shared/tools/build-seed-programs once per run; "" with `why` if they
// cannot be.
std::string seed_programs(std::string& why) {
  static const std::string dir = ::testing::TempDir() + "okq-seed-" + std::to_string(::getpid());
  static std::string built_or_why = [] {
    const std::string tool = std::string(OKQ_SOURCE_DIR) + "/../shared/tools/build-seed-programs";
    if (::access(tool.c_str(), X_OK) != 0) return std::string("no ") + tool;
    Process build({tool, dir});
    const auto rc = build.wait(120s);
    if (rc != 0) return "build-seed-programs failed: " + build.out() + build.err();
    return std::string();
  }();
  why = built_or_why;
  return why.empty() ? dir : "";
}

#define SEED_PROGRAMS(dir)                                   \
  std::string why_no_seed;                                   \
  const std::string dir = seed_programs(why_no_seed);        \
  if (dir.empty()) GTEST_SKIP() << why_no_seed;              \
  PrivateNetwork network;                                    \
  if (!network.entered()) GTEST_SKIP() << network.why_not(); \
  ASSERT_TRUE(network.why_not().empty()) << network.why_not()

// What a client prints for "hello" then "Qbye" (each sent once the previous
// reply is printed) against whatever listens on 127.0.0.1:4242.
std::string session(const std::vector<std::string>& client, const std::string& reply = "OK") {
  Process c(client);
  c.write_stdin("hello\n");
  EXPECT_TRUE(c.wait_stdout("Server: " + reply)) << c.out() << c.err();
  c.write_stdin("Qbye\n");
  EXPECT_EQ(c.wait(), 0) << c.out() << c.err();
  return c.out();
}

// The tutorial's server (0.0.0.0:4242, in the background, one client) in a
// network namespace of its own: the i386 client prints exactly what the
// x86-64 one prints.
TEST(NolibcTutorial, TheI386ClientPrintsWhatTheX8664ClientPrintsAgainstTheTutorialsServer) {
  if (pairs().empty()) GTEST_SKIP() << "the nolibc programs are built on x86-64 only";
  std::vector<std::string> printed;
  for (const auto& pair : pairs()) {
    SEED_PROGRAMS(seed);
    Process tutorial({seed + "/server"});  // daemon(3): the parent returns at once
    ASSERT_TRUE(someone_listens(4242)) << tutorial.out() << tutorial.err();
    printed.push_back(session({pair.client}));  // no argument: 127.0.0.1:4242, as in the tutorial
    EXPECT_EQ(tutorial.wait(), 0);
  }
  ASSERT_EQ(printed.size(), 2u);
  EXPECT_EQ(printed[0], "Server: OK\nServer: Qbye\n");
  EXPECT_EQ(printed[1], printed[0]) << "i386 and x86-64 differ";
}

// The tutorial's client against each of our servers (no argument:
// 0.0.0.0:4242) prints byte for byte what it prints against okq-server
// --classic, stray NULs and all (they are the tutorial's client's own).
TEST(NolibcTutorial, TheTutorialsClientPrintsTheSameAgainstBothOurServersAndOkqServer) {
  if (pairs().empty()) GTEST_SKIP() << "the nolibc programs are built on x86-64 only";
  std::string okqs;
  {
    SEED_PROGRAMS(seed);
    Process server({server_bin(), "-f", "--classic", "--once", "-l", "0.0.0.0:4242"});
    ASSERT_TRUE(server.wait_stderr("listening on")) << server.err();
    okqs = session({seed + "/client"});
    EXPECT_EQ(server.wait(), 0) << server.err();
  }
  EXPECT_EQ(okqs.substr(0, 10), "Server: OK");
  for (const auto& pair : pairs()) {
    SEED_PROGRAMS(seed);
    Process server({pair.server});
    ASSERT_TRUE(someone_listens(4242));
    EXPECT_EQ(session({seed + "/client"}), okqs) << pair.server;
    EXPECT_EQ(server.wait(), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Arch, Nolibc, ::testing::ValuesIn(pairs()),
                         [](const auto& param) { return param.param.arch; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Nolibc);

}  // namespace
}  // namespace okq::test
