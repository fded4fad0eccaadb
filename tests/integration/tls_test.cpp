// TLS on the real server, against clients none of okq's TLS code is in (a
// plain OpenSSL client over the socket, `openssl s_client`) and against
// okq-client: byte-exact replies over TLS 1.3 and 1.2, old versions and CBC
// suites refused, client certificates, plaintext and silence on a TLS port,
// a reload under live connections, PROXY then TLS, and the metrics.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "certs.hpp"
#include "okq.hpp"
#include "process.hpp"
#include "tcp.hpp"
#include "tls_client.hpp"

namespace okq::test {
namespace {

// okq-server with one TLS listener on an ephemeral loopback port (its port()).
std::vector<std::string> tls_args(std::vector<std::string> extra = {},
                                  const std::string& cert = certs().server_cert,
                                  const std::string& key = certs().server_key) {
  std::vector<std::string> args{"--tls-listen", "127.0.0.1:0", "--tls-cert",
                                cert,           "--tls-key",   key};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TlsClientOptions trusting(int version = 0) {
  TlsClientOptions o;
  o.ca = certs().ca;
  o.min_version = version;
  o.max_version = version;
  return o;
}

// Scrapes until `name` reads `want`; a count that never gets there fails.
std::string scrape_until(std::uint16_t port, const std::string& name, long long want) {
  std::string body;
  for (int i = 0; i < 500; ++i) {
    body = scrape(port);
    if (metric_value(body, name) == want) return body;
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << name << " is " << metric_value(body, name) << ", not " << want << "\n" << body;
  return body;
}

TEST(Tls, PipelinedMessagesHalfCloseAndQAreByteExactOverTls13And12) {
  TestServer server(tls_args(), true);
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    TlsClient c(server.port(), trusting(version));
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_EQ(c.version(), version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2");
    std::string lines;
    for (int i = 0; i < 500; ++i) lines += "message " + std::to_string(i) + "\n";
    c.send(lines);
    c.shutdown_write();  // close_notify, then FIN: every reply still comes
    EXPECT_EQ(c.read_to_eof(), repeat("OK\n", 500));
    EXPECT_TRUE(c.eof());

    TlsClient notify(server.port(), trusting(version));
    ASSERT_TRUE(notify.ok()) << notify.error();
    notify.send(lines);
    notify.close_notify();  // no FIN: the close_notify alone is the end of the messages
    EXPECT_EQ(notify.read_to_eof(), repeat("OK\n", 500));
    EXPECT_TRUE(notify.eof());

    TlsClient q(server.port(), trusting(version));
    ASSERT_TRUE(q.ok()) << q.error();
    q.send("a\nQuit\nnever answered\n");
    EXPECT_EQ(q.read_to_eof(), "OK\nQuit\n");
    EXPECT_TRUE(q.eof());
  }
}

TEST(Tls, OldVersionsAndCbcSuitesAreRefused) {
  TestServer server(tls_args({"-v"}), true);
  for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    auto o = trusting(version);
    o.ciphers = "DEFAULT@SECLEVEL=0";  // the client would offer them; the server must not take them
    TlsClient c(server.port(), o);
    EXPECT_FALSE(c.ok()) << "TLS version " << version << " was accepted";
  }
  auto cbc = trusting(TLS1_2_VERSION);
  cbc.ciphers = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256";
  TlsClient c(server.port(), cbc);
  EXPECT_FALSE(c.ok()) << "a CBC suite was accepted";
  EXPECT_TRUE(server.process().wait_stderr("TLS handshake failed"));
}

TEST(Tls, ClientCertificatesNoneOptionalAndRequired) {
  const Certs& k = certs();
  auto with = [&](const std::string& cert, const std::string& key) {
    auto o = trusting();
    o.cert = cert;
    o.key = key;
    return o;
  };
  // Answers a line (true) or not: a refused certificate ends the connection
  // at the handshake (TLS 1.2) or at the first read (TLS 1.3: the server
  // checks it after the client's side is done).
  auto served = [](std::uint16_t port, const TlsClientOptions& o) {
    TlsClient c(port, o);
    if (!c.ok()) return false;
    c.send("hi\n");
    return c.read_exact(3, 5s) == "OK\n";
  };
  {
    TestServer none(tls_args(), true);
    EXPECT_TRUE(served(none.port(), trusting()));
    EXPECT_TRUE(served(none.port(), with(k.stranger_cert, k.stranger_key))) << "not asked for";
  }
  {
    TestServer optional(tls_args({"-v", "--tls-ca", k.ca, "--tls-verify-client", "optional"}),
                        true);
    EXPECT_TRUE(served(optional.port(), trusting()));
    EXPECT_TRUE(served(optional.port(), with(k.client_cert, k.client_key)));
    EXPECT_TRUE(optional.process().wait_stderr("client certificate /CN=okq-test-client"));
    EXPECT_FALSE(served(optional.port(), with(k.stranger_cert, k.stranger_key)))
        << "a certificate that does not verify is refused even when optional";
  }
  {
    TestServer required(tls_args({"--tls-ca", k.ca, "--tls-verify-client", "required"}), true);
    EXPECT_FALSE(served(required.port(), trusting())) << "no certificate";
    EXPECT_FALSE(served(required.port(), with(k.stranger_cert, k.stranger_key)));
    EXPECT_TRUE(served(required.port(), with(k.client_cert, k.client_key)));
  }
}

TEST(Tls, VerifyingClientsWithoutACaIsAStartUpError) {
  Process p(plus_matrix({server_bin(), "-f", "--tls-listen", "127.0.0.1:0", "--tls-cert",
                         certs().server_cert, "--tls-key", certs().server_key,
                         "--tls-verify-client", "required"}));
  EXPECT_EQ(p.wait(), 78);
  EXPECT_NE(p.err().find("needs --tls-ca"), std::string::npos) << p.err();
  Process mismatch(plus_matrix({server_bin(), "-f", "--tls-listen", "127.0.0.1:0", "--tls-cert",
                                certs().server_cert, "--tls-key", certs().client_key}));
  EXPECT_EQ(mismatch.wait(), 78);
  EXPECT_NE(mismatch.err().find("does not match"), std::string::npos) << mismatch.err();
}

TEST(Tls, PlaintextOnATlsPortIsClosedWithoutAReply) {
  TestServer server(tls_args(), true);
  RawClient raw(server.port());
  raw.send("hello\nQ\n");
  EXPECT_EQ(raw.read_to_eof(5s), "") << "not a reply, not even an alert";
  EXPECT_TRUE(raw.eof());
}

TEST(Tls, SilentClientsAreBoundedByTheHandshakeTimeoutAndBudget) {
  // A quarter of --max-connections 8 may be opening at once: a third silent
  // client makes the first make room, and a real client is still served.
  TestServer server(tls_args({"--tls-handshake-timeout", "0.5", "--max-connections", "8"}), true);
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 3; ++i) silent.push_back(std::make_unique<RawClient>(server.port()));
  EXPECT_EQ(silent[0]->read_to_eof(5s), "");
  EXPECT_TRUE(silent[0]->eof()) << "the longest waiting made room";
  EXPECT_TRUE(server.process().wait_stderr("owe their PROXY header or TLS handshake"));
  TlsClient c(server.port(), trusting());
  ASSERT_TRUE(c.ok()) << c.error();
  c.send("x\n");
  EXPECT_EQ(c.read_exact(3), "OK\n");
  for (std::size_t i = 1; i < silent.size(); ++i) {
    EXPECT_EQ(silent[i]->read_to_eof(5s), "");
    EXPECT_TRUE(silent[i]->eof()) << "closed at --tls-handshake-timeout";
  }
  EXPECT_TRUE(server.process().wait_stderr("no TLS handshake in time"));
}

TEST(Tls, SigHupReloadsTheCertificateUnder200LiveConnectionsAndABrokenKeyKeepsTheOld) {
  const Certs& k = certs();
  const std::string dir = private_dir("tls-reload");
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  std::filesystem::copy_file(k.server_cert, cert);
  std::filesystem::copy_file(k.server_key, key);
  TestServer server(tls_args({}, cert, key), true);
  std::vector<std::unique_ptr<TlsClient>> live;
  for (int i = 0; i < 200; ++i) {
    live.push_back(std::make_unique<TlsClient>(server.port(), trusting()));
    ASSERT_TRUE(live.back()->ok()) << i << ": " << live.back()->error();
    ASSERT_EQ(live.back()->serial(), "1001");
  }
  for (auto& c : live) c->send("before\n");
  for (auto& c : live) ASSERT_EQ(c->read_exact(3), "OK\n");

  std::filesystem::copy_file(k.server2_cert, cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(k.server2_key, key, std::filesystem::copy_options::overwrite_existing);
  server.process().signal(SIGHUP);
  ASSERT_TRUE(server.process().wait_stderr("TLS certificate reloaded")) << server.process().err();
  for (auto& c : live) c->send("after\n");
  for (auto& c : live) EXPECT_EQ(c->read_exact(3), "OK\n") << "an open connection was dropped";
  {
    TlsClient fresh(server.port(), trusting());
    ASSERT_TRUE(fresh.ok()) << fresh.error();
    EXPECT_EQ(fresh.serial(), "2002") << "a new handshake sees the new certificate";
  }

  write_file(key, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
  server.process().signal(SIGHUP);
  ASSERT_TRUE(
      server.process().wait_stderr("TLS reload failed, still serving certificate serial 2002"))
      << server.process().err();
  TlsClient still(server.port(), trusting());
  ASSERT_TRUE(still.ok()) << still.error();
  EXPECT_EQ(still.serial(), "2002");
  for (auto& c : live) c->send("end\n");
  for (auto& c : live) EXPECT_EQ(c->read_exact(3), "OK\n");
}

TEST(Tls, OpensslSClientIsServed) {
  TestServer server(tls_args(), true);
  Process s_client({"/usr/bin/openssl", "s_client", "-quiet", "-verify_return_error", "-CAfile",
                    certs().ca, "-connect", "127.0.0.1:" + std::to_string(server.port())});
  s_client.write_stdin("one\ntwo\nQ\n");
  EXPECT_TRUE(s_client.wait_stdout("OK\nOK\nQ\n")) << s_client.out() << s_client.err();
  EXPECT_EQ(s_client.wait(), 0) << s_client.err();
}

TEST(Tls, ProxyHeaderThenTls) {
  const Certs& k = certs();
  TestServer server({"-v", "--proxy-tls-listen", "127.0.0.1:0", "--tls-cert", k.server_cert,
                     "--tls-key", k.server_key},
                    true);
  auto o = trusting();
  o.preamble = "PROXY TCP4 192.0.2.7 192.0.2.8 5555 4242\r\n";
  TlsClient c(server.port(), o);
  ASSERT_TRUE(c.ok()) << c.error();
  c.send("a\nQ\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  EXPECT_TRUE(server.process().wait_stderr("PROXY v1: client 192.0.2.7:5555"));
  // Without the header first, the handshake is an invalid header.
  TlsClient bare(server.port(), trusting());
  EXPECT_FALSE(bare.ok());
}

TEST(Tls, MetricsCountHandshakesAndShowTheCertificatesExpiry) {
  TestServer server(tls_args({"--metrics", "127.0.0.1:0"}), true);
  const auto port = metrics_port(server.process());
  ASSERT_NE(port, 0);
  SSL_SESSION* session = nullptr;
  {
    TlsClient c(server.port(), trusting());
    ASSERT_TRUE(c.ok());
    c.send("a\n");
    EXPECT_EQ(c.read_exact(3), "OK\n");  // the tickets came before the reply
    session = c.session();
  }
  {
    auto o = trusting();
    o.session = session;
    TlsClient again(server.port(), o);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again.resumed()) << "TLS 1.3 tickets resume";
  }
  SSL_SESSION_free(session);
  RawClient(server.port()).send("plaintext\n");
  scrape_until(port, "okq_tls_handshakes_total{result=\"full\"}", 1);
  scrape_until(port, "okq_tls_handshakes_total{result=\"resumed\"}", 1);
  const auto text = scrape_until(port, "okq_tls_handshakes_total{result=\"failed\"}", 1);
  const long long not_after = metric_value(text, "okq_tls_certificate_not_after");
  const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  EXPECT_GT(not_after, now + 29 * 86400) << "the test certificate is good for 30 days";
  EXPECT_LT(not_after, now + 31 * 86400);
}

TEST(Tls, OkqClientSpeaksTlsAndChecksTheName) {
  TestServer server(tls_args(), true);
  const std::string address = "127.0.0.1:" + std::to_string(server.port());
  Process ok({client_bin(), "--tls", "--tls-ca", certs().ca, "-P", "8", address});
  ok.write_stdin(repeat("x\n", 50));
  ok.close_stdin();
  EXPECT_EQ(ok.wait(), 0) << ok.err();
  EXPECT_EQ(ok.out(), repeat("Server: OK\n", 50));
  Process wrong(
      {client_bin(), "--tls", "--tls-ca", certs().ca, "--tls-server-name", "example.com", address});
  wrong.close_stdin();
  EXPECT_EQ(wrong.wait(), 2);
  EXPECT_NE(wrong.err().find("hostname mismatch"), std::string::npos) << wrong.err();
  Process stranger({client_bin(), "--tls", "--tls-ca", certs().stranger_ca, address});
  stranger.close_stdin();
  EXPECT_EQ(stranger.wait(), 2);
  EXPECT_NE(stranger.err().find("certificate verify failed"), std::string::npos) << stranger.err();
}

}  // namespace
}  // namespace okq::test

namespace okq::test {
namespace {

TEST(Tls, TheRelayCrossesToAnUpstreamOverTlsAndRefusesOneItCannotVerify) {
  const Certs& k = certs();
  // The upstream asks for a client certificate: the relay presents its own.
  TestServer upstream(tls_args({"--tls-ca", k.ca, "--tls-verify-client", "required"}), true);
  const std::string to = "127.0.0.1:" + std::to_string(upstream.port());
  TestServer relay({"--upstream", to, "--upstream-tls", "--upstream-ca", k.ca, "--upstream-cert",
                    k.client_cert, "--upstream-key", k.client_key});
  RawClient c(relay.port());
  c.send(repeat("m\n", 200) + "Q\n");
  EXPECT_EQ(c.read_to_eof(), repeat("OK\n", 200) + "Q\n");

  TestServer wrong({"--upstream", to, "--upstream-tls", "--upstream-ca", k.stranger_ca});
  RawClient refused(wrong.port());
  refused.send("m\n");
  EXPECT_EQ(refused.read_to_eof(), "ERR upstream unavailable\n");
  refused.close();  // the server logs the end once it has the client's FIN
  EXPECT_TRUE(wrong.process().wait_stderr("certificate verify failed")) << wrong.process().err();
}

}  // namespace
}  // namespace okq::test

namespace okq::test {
namespace {

// This kernel has no TLS module; one that has it is told the stage keeps TLS.
TEST(Tls, KernelTlsAskedForIsSaidOnceAndTlsStaysInOkq) {
  TestServer server(tls_args({"--tls-ktls"}), true);
  EXPECT_TRUE(server.process().wait_stderr("--tls-ktls: ")) << server.process().err();
  EXPECT_NE(server.process().err().find("; TLS stays in okq"), std::string::npos);
  if (server.process().err().find("the kernel has no TLS") != std::string::npos)
    GTEST_SKIP() << "no kernel TLS here ("
                 << server.process().err().substr(
                        server.process().err().find("the kernel has no TLS"))
                 << ")";
  TlsClient c(server.port(), trusting());
  ASSERT_TRUE(c.ok()) << c.error();
}

}  // namespace
}  // namespace okq::test

namespace okq::test {
namespace {

// After --user, SIGHUP reads the TLS files as that user: said at start when
// it cannot, and it works when it can.
TEST(Tls, UnderUserTheReloadReadsTheFilesAsThatUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  const Certs& k = certs();
  {
    const std::string dir = private_dir("tls-unreadable");  // 0700, root's
    std::filesystem::copy_file(k.server_cert, dir + "/cert.pem");
    std::filesystem::copy_file(k.server_key, dir + "/key.pem");
    TestServer server(tls_args({"--user", "nobody"}, dir + "/cert.pem", dir + "/key.pem"), true);
    EXPECT_TRUE(server.process().wait_stderr("as user nobody the TLS files cannot be read again"))
        << server.process().err();
  }
  const std::string dir = private_dir("tls-readable");
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all |
                                        std::filesystem::perms::group_exec |
                                        std::filesystem::perms::others_exec);
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  std::filesystem::copy_file(k.server_cert, cert);
  std::filesystem::copy_file(k.server_key, key);
  ASSERT_EQ(::chown(key.c_str(), 65534, 65534), 0);  // nobody's, 0600
  TestServer server(tls_args({"--user", "nobody"}, cert, key), true);
  std::filesystem::copy_file(k.server2_cert, cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(k.server2_key, key, std::filesystem::copy_options::overwrite_existing);
  server.process().signal(SIGHUP);
  ASSERT_TRUE(server.process().wait_stderr("TLS certificate reloaded")) << server.process().err();
  TlsClient c(server.port(), trusting());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c.serial(), "2002");
  EXPECT_EQ(server.process().err().find("cannot be read again"), std::string::npos);
}

}  // namespace
}  // namespace okq::test

namespace okq::test {
namespace {

// okq-bench over TLS: every reply checked, a handshake per request with
// --reconnect-interval 1, and resumed ones with --tls-resume (as the
// server's metrics count them).
TEST(Tls, OkqBenchMeasuresFullAndResumedHandshakes) {
  TestServer server(tls_args({"--metrics", "127.0.0.1:0"}), true);
  const auto metrics = metrics_port(server.process());
  const std::string address = "127.0.0.1:" + std::to_string(server.port());
  Process full({bench_bin(), "--tls", "--tls-ca", certs().ca, "-c", "4", "-n", "200", "-P", "1",
                "--reconnect-interval", "1", "--json", "-q", address});
  ASSERT_EQ(full.wait(30s), 0) << full.out() << full.err();
  EXPECT_EQ(json_field(full.out(), "answered"), 200u);
  EXPECT_GE(json_field(full.out(), "reconnects"), 190u);
  scrape_until(metrics, "okq_tls_handshakes_total{result=\"resumed\"}", 0);
  Process resumed({bench_bin(), "--tls", "--tls-ca", certs().ca, "--tls-resume", "-c", "4", "-n",
                   "200", "--reconnect-interval", "1", "--json", "-q", address});
  ASSERT_EQ(resumed.wait(30s), 0) << resumed.out() << resumed.err();
  EXPECT_EQ(json_field(resumed.out(), "answered"), 200u);
  const auto text = scrape(metrics);
  EXPECT_GE(metric_value(text, "okq_tls_handshakes_total{result=\"resumed\"}"), 190) << text;
}

}  // namespace
}  // namespace okq::test

namespace okq::test {
namespace {

// A TLS client over --max-connections gets our FIN, not a handshake (the
// work an overloaded server must not do); an idle one is closed at
// --idle-timeout like any other.
TEST(Tls, TurnedAwayAtTheLimitAndClosedWhenIdle) {
  TestServer server(tls_args({"--max-connections", "1", "--idle-timeout", "1"}), true);
  TlsClient first(server.port(), trusting());
  ASSERT_TRUE(first.ok()) << first.error();
  first.send("a\n");
  ASSERT_EQ(first.read_exact(3), "OK\n");
  TlsClient second(server.port(), trusting());
  EXPECT_FALSE(second.ok()) << "handshaken over the limit";
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(first.read_to_eof(5s), "");
  EXPECT_TRUE(first.eof()) << "the idle TLS connection was not closed";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_TRUE(server.process().wait_stderr("turning new clients away"));
}

}  // namespace
}  // namespace okq::test
