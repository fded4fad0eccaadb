// ProxyHeaderParser: PROXY protocol v1 and v2 headers, at every split, never
// read past, and the malformed ones refused with a reason.
#include "okq/proto/proxy_header.hpp"

#include <gtest/gtest.h>

#include <string>

namespace okq::proto {
namespace {

using Status = ProxyHeaderParser::Status;

std::string v2(unsigned char command, unsigned char family, const std::string& rest) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h.push_back(static_cast<char>(0x20 | command));
  h.push_back(static_cast<char>(family));
  h.push_back(static_cast<char>(rest.size() >> 8));
  h.push_back(static_cast<char>(rest.size() & 0xff));
  return h + rest;
}

const std::string kTcp4Block("\xc0\x00\x02\x01\xc6\x33\x64\x02\xc8\x22\x10\x92",
                             12);  // 192.0.2.1:51234 -> 198.51.100.2:4242

// Reads `stream` as okq reads a socket: at most wanted() bytes, at most
// `cap` at a time (0: no cap). Returns the parser; `at` is where the rest of
// the stream starts.
ProxyHeaderParser read(const std::string& stream, std::size_t cap, std::size_t& at) {
  ProxyHeaderParser p;
  at = 0;
  while (p.status() == Status::NeedMore && at < stream.size()) {
    std::size_t n = std::min(p.wanted(), stream.size() - at);
    if (cap) n = std::min(n, cap);
    p.feed(std::string_view(stream).substr(at, n));
    at += n;
  }
  return p;
}

// Every cap from 1 byte to none: the same verdict and header, and the
// client's own bytes (`payload`) left unread.
ProxyHeaderParser expect_everywhere(const std::string& header, const std::string& payload,
                                    Status status) {
  std::size_t at = 0;
  const ProxyHeaderParser whole = read(header + payload, 0, at);
  EXPECT_EQ(whole.status(), status) << whole.error();
  for (std::size_t cap = 1; cap <= header.size() + 1; ++cap) {
    const ProxyHeaderParser p = read(header + payload, cap, at);
    EXPECT_EQ(p.status(), status) << "cap " << cap << ": " << p.error();
    EXPECT_EQ(p.header().source, whole.header().source) << "cap " << cap;
    EXPECT_EQ(p.header().destination, whole.header().destination) << "cap " << cap;
    if (status == Status::Done) {
      EXPECT_EQ(at, header.size()) << "cap " << cap << ": read into the client's bytes";
      EXPECT_EQ(p.consumed(), header.size());
    }
  }
  return whole;
}

TEST(ProxyHeader, V1Tcp4GivesTheOriginalClientAndLeavesItsBytes) {
  const auto p = expect_everywhere("PROXY TCP4 192.0.2.1 198.51.100.2 51234 4242\r\n", "hello\n",
                                   Status::Done);
  EXPECT_EQ(p.header().version, 1);
  EXPECT_FALSE(p.header().local);
  EXPECT_EQ(p.header().source, "192.0.2.1:51234");
  EXPECT_EQ(p.header().destination, "198.51.100.2:4242");
}

TEST(ProxyHeader, V1Tcp6AndTheShortestLines) {
  EXPECT_EQ(expect_everywhere("PROXY TCP6 2001:db8::1 ::1 443 4242\r\n", "Q\n", Status::Done)
                .header()
                .source,
            "[2001:db8::1]:443");
  EXPECT_EQ(expect_everywhere("PROXY TCP4 1.1.1.1 1.1.1.1 1 1\r\n", "x", Status::Done)
                .header()
                .destination,
            "1.1.1.1:1");
  EXPECT_EQ(expect_everywhere("PROXY TCP6 :: :: 1 0\r\n", "x", Status::Done).header().source,
            "[::]:1");
}

TEST(ProxyHeader, V1UnknownKeepsTheRealAddressesAndIgnoresTheRest) {
  const auto p = expect_everywhere("PROXY UNKNOWN\r\n", "PING\n", Status::Done);
  EXPECT_TRUE(p.header().local);
  EXPECT_TRUE(
      expect_everywhere("PROXY UNKNOWN ffff::1 ::1 1 2\r\n", "", Status::Done).header().local);
}

TEST(ProxyHeader, V1MalformedIsRefusedWithAReason) {
  for (const char* bad : {"PROXY TCP4 192.0.2.1 198.51.100.2 51234\r\n",  // a field missing
                          "PROXY TCP4 192.0.2.300 198.51.100.2 1 2\r\n",  // bad address
                          "PROXY TCP4 ::1 ::1 1 2\r\n",                   // v6 in TCP4
                          "PROXY TCP4 1.1.1.1 1.1.1.1 01 2\r\n",          // leading zero
                          "PROXY TCP4 1.1.1.1 1.1.1.1 65536 2\r\n",       // port too big
                          "PROXY TCP5 1.1.1.1 1.1.1.1 1 2\r\n",           // protocol
                          "PROXY TCP4 1.1.1.1 1.1.1.1 1 2\n",             // LF alone
                          "PROXY TCP4 1.1.1.1 1.1.1.1 1 2\rx",            // CR alone
                          "proxy TCP4 1.1.1.1 1.1.1.1 1 2\r\n",           // case
                          "GET / HTTP/1.0\r\n\r\n",                       // not a header
                          "PROXY TCP4  1.1.1.1 1.1.1.1 1 2\r\n"}) {       // two spaces
    std::size_t at = 0;
    const auto p = read(std::string(bad) + "payload", 0, at);
    EXPECT_EQ(p.status(), Status::Invalid) << bad;
    EXPECT_FALSE(p.error().empty()) << bad;
  }
}

TEST(ProxyHeader, V1LongerThan107BytesIsRefusedWithoutReadingFurther) {
  const std::string line = "PROXY UNKNOWN " + std::string(200, 'a') + "\r\n";
  std::size_t at = 0;
  const auto p = read(line, 0, at);
  EXPECT_EQ(p.status(), Status::Invalid);
  EXPECT_LE(at, ProxyHeaderParser::kMaxV1);
}

TEST(ProxyHeader, V2ProxyTcp4WithTlvsSkipped) {
  const std::string tlv(
      "\x04\x00\x04"
      "abcd",
      7);
  const auto p = expect_everywhere(v2(1, 0x11, kTcp4Block + tlv), "hello\n", Status::Done);
  EXPECT_EQ(p.header().version, 2);
  EXPECT_EQ(p.header().source, "192.0.2.1:51234");
  EXPECT_EQ(p.header().destination, "198.51.100.2:4242");
}

TEST(ProxyHeader, V2Tcp6AndUnix) {
  std::string six(36, '\0');
  six[15] = 1;                                                             // ::1
  six[16] = '\x20', six[17] = '\x01', six[18] = '\x0d', six[19] = '\xb8';  // 2001:db8::
  six[32] = '\x01', six[33] = '\xbb';                                      // 443
  six[34] = '\x10', six[35] = '\x92';                                      // 4242
  const auto p6 = expect_everywhere(v2(1, 0x21, six), "x", Status::Done);
  EXPECT_EQ(p6.header().source, "[::1]:443");
  EXPECT_EQ(p6.header().destination, "[2001:db8::]:4242");
  std::string unix_block(216, '\0');
  unix_block.replace(0, 9, "/run/a.sk");
  unix_block.replace(108, 9, "/run/b.sk");
  const auto pu = expect_everywhere(v2(1, 0x31, unix_block), "x", Status::Done);
  EXPECT_EQ(pu.header().source, "unix:/run/a.sk");
  EXPECT_EQ(pu.header().destination, "unix:/run/b.sk");
}

TEST(ProxyHeader, V2LocalIsAHealthCheckThatKeepsTheRealAddresses) {
  // LOCAL may carry addresses; they are skipped, not used.
  const auto p = expect_everywhere(v2(0, 0x11, kTcp4Block), "PING\n", Status::Done);
  EXPECT_TRUE(p.header().local);
  EXPECT_EQ(p.header().source, "");
  EXPECT_TRUE(expect_everywhere(v2(0, 0x00, ""), "PING\n", Status::Done).header().local);
  EXPECT_TRUE(expect_everywhere(v2(1, 0x00, ""), "x", Status::Done).header().local);  // UNSPEC
}

TEST(ProxyHeader, V2MalformedIsRefusedWithAReason) {
  std::string bad_signature = v2(1, 0x11, kTcp4Block);
  bad_signature[5] = 'X';
  std::string version1 = v2(1, 0x11, kTcp4Block);
  version1[12] = 0x11;
  for (const std::string& bad :
       {bad_signature, version1, v2(2, 0x11, kTcp4Block),  // unknown command
        v2(1, 0x12, kTcp4Block),                           // datagram
        v2(1, 0x41, kTcp4Block),                           // unknown family
        v2(1, 0x11, kTcp4Block.substr(0, 11)),             // shorter than its addresses
        v2(1, 0x21, kTcp4Block)}) {                        // TCP6 with a TCP4 block
    std::size_t at = 0;
    const auto p = read(bad + "payload", 0, at);
    EXPECT_EQ(p.status(), Status::Invalid);
    EXPECT_FALSE(p.error().empty());
  }
}

TEST(ProxyHeader, V2LengthIsCountedNotTrusted) {
  // A 65,535-byte variable part is skipped in reads of the reader's size; the
  // parser keeps only the address block.
  const std::string header = v2(1, 0x11, kTcp4Block + std::string(65535 - 12, '\0'));
  std::size_t at = 0;
  const auto p = read(header + "hello\n", 4096, at);
  EXPECT_EQ(p.status(), Status::Done);
  EXPECT_EQ(at, header.size());
  EXPECT_EQ(p.header().source, "192.0.2.1:51234");
}

TEST(ProxyHeader, AFeedLongerThanWantedIsRefused) {
  ProxyHeaderParser p;
  EXPECT_EQ(p.wanted(), 15u);
  EXPECT_EQ(p.feed("PROXY TCP4 192.0.2.1 198.51.100.2 51234 4242\r\n"), Status::Invalid);
}

}  // namespace
}  // namespace okq::proto
