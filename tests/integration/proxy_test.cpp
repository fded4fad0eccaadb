// PROXY protocol listeners (--proxy-listen) on the real server: the header
// first, the original client in the log, the client's own bytes untouched
// after it, and every way a header can fail closing with a logged reason and
// no reply.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include <string>
#include <thread>

#include "okq.hpp"
#include "process.hpp"
#include "tcp.hpp"

namespace okq::test {
namespace {

using namespace std::string_literals;

const std::string kV1 = "PROXY TCP4 192.0.2.1 192.0.2.2 5555 4242\r\n";

// A v2 header: the signature, version 2, `command` (0 LOCAL, 1 PROXY),
// TCP over IPv4 or IPv6, the addresses and any TLVs.
std::string v2(int command, bool v6, const std::string& tlvs = "") {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(0x20 | command);
  h += static_cast<char>(v6 ? 0x21 : 0x11);
  std::string addresses;
  if (v6) {
    addresses = "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x01"s;  // 2001:db8::1
    addresses += "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x02"s;
    addresses += "\xc3\x50\x10\x92"s;  // 50000 -> 4242
  } else {
    addresses = "\xc6\x33\x64\x07\xc6\x33\x64\x08\xc3\x50\x10\x92"s;  // 198.51.100.7 -> .8
  }
  const std::size_t len = addresses.size() + tlvs.size();
  h += static_cast<char>(len >> 8);
  h += static_cast<char>(len & 0xff);
  return h + addresses + tlvs;
}

TEST(Proxy, V1HeaderThenPipelinedMessagesInOneSegment) {
  TestServer server({"--proxy-listen", "127.0.0.1:0", "-v"}, true);
  RawClient c(server.port());
  c.send(kV1 + "hello\nworld\nQ bye\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nOK\nQ bye\n");
  c.close();
  ASSERT_TRUE(server.process().wait_stderr("closed: protocol end"));
  const auto log = server.process().err();
  EXPECT_NE(
      log.find("listening on 127.0.0.1:" + std::to_string(server.port()) + " (PROXY protocol)"),
      std::string::npos)
      << log;
  EXPECT_NE(log.find("PROXY v1: client 192.0.2.1:5555 to 192.0.2.2:4242 via 127.0.0.1:"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("from 192.0.2.1:5555 via 127.0.0.1:"), std::string::npos)
      << "the close line names the original client: " << log;
}

TEST(Proxy, V2OverIpv6WithTlvsAndTheClientsTrace) {
  TestServer server({"--proxy-listen", "127.0.0.1:0", "--trace"}, true);
  RawClient c(server.port());
  // Two TLVs (ALPN, AUTHORITY) the server skips without looking.
  const std::string tlvs = "\x01\x00\x02h2"s + "\x02\x00\x0bexample.com"s;
  c.send(v2(1, true, tlvs) + "a\nQ\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  c.close();
  ASSERT_TRUE(server.process().wait_stderr("closed: protocol end"));
  const auto log = server.process().err();
  EXPECT_NE(log.find("PROXY v2: client [2001:db8::1]:50000 to [2001:db8::2]:4242"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("message \"a\""), std::string::npos) << log;
}

// A v2 AF_UNIX source path is whatever the peer put there: a newline and a
// terminal escape in it must not forge a log line or drive a terminal.
TEST(Proxy, AUnixSourcePathCannotForgeALogLine) {
  TestServer server({"--proxy-listen", "127.0.0.1:0", "-v"}, true);
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += "\x21\x31"s;  // PROXY, AF_UNIX stream
  std::string source = "/x\n2026-12-01T00:00:00.000Z okq-server[1]: forged\x1b[2J";
  source.resize(108, '\0');
  std::string destination = "/okq.sock";
  destination.resize(108, '\0');
  h += "\x00\xd8"s;  // 216 bytes of addresses
  RawClient c(server.port());
  c.send(h + source + destination + "a\nQ\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  c.close();
  ASSERT_TRUE(server.process().wait_stderr("closed: protocol end"));
  const auto log = server.process().err();
  EXPECT_NE(log.find("client unix:/x\\n2026-12-01T00:00:00.000Z okq-server[1]: forged\\x1b[2J "
                     "to unix:/okq.sock"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("\n2026-12-01T00:00:00.000Z"), std::string::npos) << "a forged line";
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << "a terminal escape reached the log";
}

// HAProxy's health checks send LOCAL: served as the balancer itself.
TEST(Proxy, V2LocalIsAHealthCheckServedAsItself) {
  TestServer server({"--proxy-listen", "127.0.0.1:0", "-v"}, true);
  RawClient c(server.port());
  c.send(v2(0, false) + "PING\n");
  EXPECT_EQ(c.read_exact(3), "OK\n");
  c.reset();  // as HAProxy's checks end: with a reset, not an error to log by default
  ASSERT_TRUE(server.process().wait_stderr("closed:"));
  EXPECT_NE(server.process().err().find("PROXY v2 LOCAL (a health check): served as itself"),
            std::string::npos)
      << server.process().err();
}

TEST(Proxy, HealthCheckResetIsNotAnErrorAtTheDefaultLevel) {
  TestServer server({"--proxy-listen", "127.0.0.1:0"}, true);
  for (int i = 0; i < 3; ++i) {
    RawClient c(server.port());
    c.send(v2(0, false) + "PING\n");
    EXPECT_EQ(c.read_exact(3), "OK\n");
    c.reset();
  }
  // A plain client after them, answered: the server has seen all three by then.
  RawClient c(server.port());
  c.send(v2(0, false) + "Q\n");
  EXPECT_EQ(c.read_to_eof(), "Q\n");
  c.close();
  EXPECT_EQ(server.stop(), 0);
  const auto log = server.process().err();
  EXPECT_EQ(log.find("conn "), std::string::npos) << "nothing per connection by default: " << log;
}

// The header read a byte at a time (each byte its own segment, acknowledged
// before the next): the server never reads a client byte as header or the
// header as a message, and classic framing's one read per message holds.
TEST(Proxy, HeaderInPiecesThenClassicMessagesByteExact) {
  TestServer server({"--proxy-listen", "127.0.0.1:0", "--classic"}, true);
  RawClient c(server.port());
  const std::string header = v2(1, false);
  for (char byte : header) {
    c.send(std::string(1, byte));
    ASSERT_TRUE(c.wait_acked());
  }
  c.send("hello"s);  // a short read is a message in classic framing
  EXPECT_EQ(c.read_exact(2), "OK");
  const std::string quit = "Qbye\n"s + std::string(15, '\0');
  c.send(quit);
  EXPECT_EQ(c.read_to_eof(), quit);
}

// The header and two whole classic messages in one segment: read past the
// header and the messages' boundaries would move (classic framing has no
// delimiter but the read).
TEST(Proxy, ClassicMessagesInTheHeadersSegmentKeepTheirBoundaries) {
  TestServer server({"--proxy-listen", "127.0.0.1:0", "--classic"}, true);
  RawClient c(server.port());
  const std::string hello = "hello\n"s + std::string(14, '\0');
  const std::string quit = "Qbye\n"s + std::string(15, '\0');
  c.send(kV1 + hello + quit);
  EXPECT_EQ(c.read_to_eof(), "OK" + quit);
}

TEST(Proxy, MalformedHeaderClosesWithNoReplyAndALoggedReason) {
  TestServer server({"--proxy-listen", "127.0.0.1:0"}, true);
  RawClient c(server.port());
  c.send("hello\nQ\n");  // a client that went straight to the PROXY port
  EXPECT_EQ(c.read_to_eof(), "");
  EXPECT_TRUE(c.eof());
  ASSERT_TRUE(server.process().wait_stderr("closed without a reply"));
  EXPECT_NE(server.process().err().find("invalid PROXY header (not a PROXY protocol header)"),
            std::string::npos)
      << server.process().err();
}

TEST(Proxy, NoHeaderInTimeClosesWithNoReplyAndALoggedReason) {
  TestServer server({"--proxy-listen", "127.0.0.1:0", "--proxy-timeout", "0.3"}, true);
  RawClient c(server.port());
  c.send("PROXY TCP4 ");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(c.read_to_eof(5s), "");
  EXPECT_TRUE(c.eof());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  ASSERT_TRUE(server.process().wait_stderr("no PROXY header in time"));
}

TEST(Proxy, UntrustedSourceIsClosedUnreadWhileThePlainListenerServes) {
  TestServer server({"--listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.2:0", "--proxy-from",
                     "10.0.0.0/8", "--proxy-from", "2001:db8::/32"},
                    true);
  ASSERT_TRUE(server.process().wait_stderr("(PROXY protocol)"));
  const auto log = server.process().err();
  const auto proxy_port = listening_port(log, "127.0.0.2:");
  ASSERT_NE(proxy_port, 0) << log;
  {
    RawClient c(server.port());
    c.send("plain\nQ\n");
    EXPECT_EQ(c.read_to_eof(), "OK\nQ\n") << "a plain listener takes no header";
  }
  // Loopback, but not in --proxy-from.
  RawClient c("127.0.0.2", proxy_port);
  c.send(kV1 + "hello\n");
  EXPECT_EQ(c.read_to_eof(), "");
  ASSERT_TRUE(server.process().wait_stderr("from outside --proxy-from; closed unread"));
  EXPECT_NE(server.process().err().find("connection from 127.0.0.1:"), std::string::npos)
      << server.process().err();
}

// One client can send bad headers, or connect from outside --proxy-from, as
// fast as it likes: the log gets a line a second (per worker) with a count
// of what it held back, not a line per connection.
TEST(Proxy, FloodsOfBadHeadersAndUntrustedSourcesAreLoggedALineASecond) {
  using Clock = std::chrono::steady_clock;
  TestServer server({"--proxy-listen", "127.0.0.1:0"}, true);
  TestServer strict({"--proxy-listen", "127.0.0.1:0", "--proxy-from", "10.0.0.0/8"}, true);
  const auto start = Clock::now();
  for (int i = 0; i < 200; ++i) {
    RawClient bad(server.port());
    bad.send("GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(bad.read_to_eof(), "");
    RawClient outsider(strict.port());
    EXPECT_EQ(outsider.read_to_eof(), "");
  }
  std::this_thread::sleep_for(1100ms);
  for (auto* s : {&server, &strict}) {
    RawClient last(s->port());
    last.send("GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(last.read_to_eof(), "");
  }
  ASSERT_TRUE(server.process().wait_stderr("more like it since the last line"))
      << server.process().err();
  ASSERT_TRUE(strict.process().wait_stderr("more like it since the last line"))
      << strict.process().err();
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count();
  const auto allowed = static_cast<std::size_t>(seconds + 2);
  const auto invalid = occurrences(server.process().err(), "invalid PROXY header");
  EXPECT_LE(invalid, server.threads() * allowed) << server.process().err();
  EXPECT_GE(invalid, 2u);
  const auto untrusted = occurrences(strict.process().err(), "from outside --proxy-from");
  EXPECT_LE(untrusted, allowed) << strict.process().err();
  EXPECT_GE(untrusted, 2u);
}

// Clients that never finish their PROXY header hold at most a quarter of
// --max-connections: the balancer's real connections still get in.
TEST(Proxy, SilentHeadersCannotFillMaxConnections) {
  TestServer server(
      {"--proxy-listen", "127.0.0.1:0", "--max-connections", "8", "--proxy-timeout", "30"}, true);
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 12; ++i) {
    silent.push_back(std::make_unique<RawClient>(server.port()));
    silent.back()->send("PRO");  // a header begun, never finished
  }
  ASSERT_TRUE(server.process().wait_stderr("owe their PROXY header")) << server.process().err();
  RawClient real(server.port());
  real.send(kV1 + "hello\nQ\n");
  EXPECT_EQ(real.read_to_eof(), "OK\nQ\n") << "the balancer was locked out";
  std::size_t closed = 0;
  for (auto& c : silent) closed += c->read_to_eof(200ms).empty() && c->eof();
  EXPECT_GE(closed, 10u) << "2 of 8 may wait for their header; the longest waiting make room";
}

TEST(Proxy, MalformedProxyFromIsAUsageError) {
  Process p({server_bin(), "--foreground", "--proxy-listen", "127.0.0.1:0", "--proxy-from",
             "10.0.0.0/33"});
  EXPECT_EQ(p.wait(), 64);
  EXPECT_NE(p.err().find("prefix length must be 0 to 32"), std::string::npos) << p.err();
}

}  // namespace
}  // namespace okq::test
