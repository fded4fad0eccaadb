// --metrics on the real server: the exposition checked by promtool, counters
// that match the traffic exactly, HTTP answers for everything else, bounds on
// scrapers, and a real Prometheus server scraping okq and returning a counter
// through its query API.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <vector>

#include <string>
#include <thread>

#include "okq.hpp"
#include "process.hpp"
#include "tcp.hpp"

namespace okq::test {
namespace {

// Scrapes until `name` reads `want` and, if given, `then` reads `then_want`
// (workers count on their own threads; the server's books follow them). A
// count that never gets there is a failure, not a slow pass.
std::string scrape_until(std::uint16_t port, const std::string& name, long long want,
                         const std::string& then = "", long long then_want = 0) {
  std::string body;
  for (int i = 0; i < 500; ++i) {
    body = scrape(port);
    if (metric_value(body, name) == want && (then.empty() || metric_value(body, then) == then_want))
      return body;
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << "after 5 s, " << name << " is " << metric_value(body, name) << ", not " << want
                << (then.empty()
                        ? ""
                        : ", or " + then + " is " + std::to_string(metric_value(body, then)) +
                              ", not " + std::to_string(then_want))
                << "\n"
                << body;
  return body;
}

TEST(Metrics, PromtoolAcceptsTheExposition) {
  TestServer server({"--metrics", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0"});
  const auto port = metrics_port(server.process());
  ASSERT_NE(port, 0) << server.process().err();
  const auto response = http_get(port, "/metrics");
  EXPECT_EQ(response.substr(0, 15), "HTTP/1.1 200 OK") << response;
  EXPECT_NE(response.find("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos)
      << response;
  ASSERT_EQ(::access("/usr/bin/promtool", X_OK), 0)
      << "promtool is missing: `make deps` installs Debian's prometheus package";
  Process promtool({"/usr/bin/promtool", "check", "metrics"});
  promtool.write_stdin(http_body(response));
  promtool.close_stdin();
  EXPECT_EQ(promtool.wait(), 0) << promtool.out() << promtool.err();
  EXPECT_EQ(promtool.out() + promtool.err(), "") << "no lint remarks either";
}

TEST(Metrics, CountersMatchTheTrafficExactly) {
  TestServer server({"--metrics", "127.0.0.1:0", "--max-connections", "3"});
  const auto port = metrics_port(server.process());
  ASSERT_NE(port, 0);
  for (int i = 0; i < 2; ++i) {
    RawClient c(server.port());
    c.send("a\nb\nQ\n");
    EXPECT_EQ(c.read_to_eof(), "OK\nOK\nQ\n");
  }
  {
    // A half-close with an unterminated last message: that one counts too.
    RawClient c(server.port());
    c.send("a\nb\nc");
    c.shutdown_write();
    EXPECT_EQ(c.read_to_eof(), "OK\nOK\nOK\n");
  }
  auto text = scrape_until(port, "okq_connections_closed_total{reason=\"protocol_end\"}", 2,
                           "okq_connections_closed_total{reason=\"client_closed\"}", 1);
  text = scrape_until(port, "okq_connections", 0);
  EXPECT_EQ(metric_value(text, "okq_up"), 1);
  EXPECT_EQ(metric_value(text, "okq_connections_accepted_total"), 3) << text;
  EXPECT_EQ(metric_value(text, "okq_connections"), 0) << text;
  EXPECT_EQ(metric_value(text, "okq_max_connections"), 3) << text;
  EXPECT_EQ(metric_sum(text, "okq_messages_total"), 9) << text;
  EXPECT_EQ(metric_sum(text, "okq_received_bytes_total"), 17) << text;
  EXPECT_EQ(metric_sum(text, "okq_sent_bytes_total"), 25) << text;
  EXPECT_EQ(metric_sum(text, "okq_worker_connections"), 0) << text;

  // Three held open, a fourth turned away at --max-connections.
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawClient>(server.port()));
    held.back()->send("x\n");
    EXPECT_EQ(held.back()->read_exact(3), "OK\n");
  }
  RawClient extra(server.port());
  EXPECT_EQ(extra.read_to_eof(), "ERR too many connections\n");
  extra.close();
  text = scrape_until(port, "okq_connections_closed_total{reason=\"rejected\"}", 1,
                      "okq_connections_rejecting", 0);
  EXPECT_EQ(metric_value(text, "okq_connections"), 3) << text;
  EXPECT_EQ(metric_sum(text, "okq_worker_connections"), 3) << text;
  EXPECT_EQ(metric_value(text, "okq_connections_rejected_total"), 1) << text;
  EXPECT_EQ(metric_value(text, "okq_connections_accepted_total"), 6) << text;
  held.clear();
}

TEST(Metrics, IdleTimeoutsAndProxyFailuresAreCountedByReason) {
  TestServer server({"--metrics", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--proxy-listen",
                     "127.0.0.2:0", "--idle-timeout", "0.2", "--proxy-from", "10.0.0.0/8"},
                    true);
  const auto port = metrics_port(server.process());
  ASSERT_TRUE(server.process().wait_stderr("(PROXY protocol)"));
  const auto proxy_port = listening_port(server.process().err(), "127.0.0.2:");
  {
    RawClient idle(server.port());
    EXPECT_EQ(idle.read_to_eof(), "") << "closed by the idle timeout";
  }
  RawClient untrusted("127.0.0.2", proxy_port);
  EXPECT_EQ(untrusted.read_to_eof(), "");
  // The idle connection is counted once its socket is closed, which the
  // client may see first: wait for both counts.
  const auto text = scrape_until(port, "okq_proxy_header_failures_total{reason=\"untrusted\"}", 1,
                                 "okq_connections_closed_total{reason=\"idle_timeout\"}", 1);
  EXPECT_EQ(metric_value(text, "okq_connections_closed_total{reason=\"idle_timeout\"}"), 1) << text;
  EXPECT_EQ(metric_value(text, "okq_proxy_header_failures_total{reason=\"untrusted\"}"), 1) << text;
}

TEST(Metrics, AnythingButGetMetricsGetsAProperAnswer) {
  TestServer server({"--metrics", "127.0.0.1:0"});
  const auto port = metrics_port(server.process());
  ASSERT_NE(port, 0);
  EXPECT_EQ(http_get(port, "/").substr(0, 22), "HTTP/1.1 404 Not Found");
  RawClient post(port);
  post.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  const auto answer = post.read_to_eof();
  EXPECT_EQ(answer.substr(0, 31), "HTTP/1.1 405 Method Not Allowed") << answer;
  EXPECT_NE(answer.find("Allow: GET, HEAD"), std::string::npos) << answer;
  RawClient junk(port);
  junk.send("hello\r\n\r\n");
  EXPECT_EQ(junk.read_to_eof().substr(0, 24), "HTTP/1.1 400 Bad Request");
}

// 64 connections that never say a word hold every scrape slot: the
// longest-silent makes room, so Prometheus still gets its answer.
TEST(Metrics, SilentConnectionsInEverySlotDoNotBlindMonitoring) {
  TestServer server({"--metrics", "127.0.0.1:0"});
  const auto port = metrics_port(server.process());
  ASSERT_NE(port, 0);
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 100; ++i) silent.push_back(std::make_unique<RawClient>(port));
  const auto response = http_get(port, "/metrics");
  EXPECT_EQ(response.substr(0, 15), "HTTP/1.1 200 OK") << response;
  EXPECT_EQ(metric_value(http_body(response), "okq_up"), 1);
}

TEST(Metrics, HugeAndSilentScrapersAreBoundedAndBlockNoOne) {
  TestServer server({"--metrics", "127.0.0.1:0"});
  const auto port = metrics_port(server.process());
  ASSERT_NE(port, 0);
  RawClient silent(port);  // connects and says nothing
  RawClient huge(port);
  huge.send("GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(20000, 'a'));
  EXPECT_EQ(huge.read_to_eof().substr(0, 44), "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(http_get(port, "/metrics").substr(0, 15), "HTTP/1.1 200 OK")
      << "a silent scraper holds no one up";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(silent.read_to_eof(10s), "");
  EXPECT_TRUE(silent.eof()) << "closed after the endpoint's 5 s bound";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
}

// A real Prometheus (Debian's package) scrapes okq-server every second and
// answers a query for a counter with the value okq-server has.
TEST(Metrics, PrometheusScrapesOkqAndAnswersAQuery) {
  ASSERT_EQ(::access("/usr/bin/prometheus", X_OK), 0)
      << "prometheus is missing: `make deps` installs Debian's prometheus package";
  TestServer server({"--metrics", "127.0.0.1:0"});
  const auto port = metrics_port(server.process());
  ASSERT_NE(port, 0);
  for (int i = 0; i < 7; ++i) {
    RawClient c(server.port());
    c.send("hello\nQ\n");
    EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  }
  const std::string dir = private_dir("prometheus");
  write_file(dir + "/prometheus.yml",
             "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "scrape_configs:\n  - job_name: okq\n    static_configs:\n"
             "      - targets: ['127.0.0.1:" +
                 std::to_string(port) + "']\n");
  const auto web = unused_port();
  Process prometheus({"/usr/bin/prometheus", "--config.file=" + dir + "/prometheus.yml",
                      "--storage.tsdb.path=" + dir + "/data",
                      "--web.listen-address=127.0.0.1:" + std::to_string(web), "--log.level=warn"});
  std::string answer;
  bool found = false;
  for (int i = 0; i < 300 && !found; ++i) {  // 30 s at most: start-up, then a scrape
    try {
      answer = http_body(http_get(
          web, "/api/v1/query?query=okq_connections_accepted_total%7Bjob%3D%22okq%22%7D", 2s));
    } catch (const std::exception& e) {  // not listening yet
      answer = e.what();
    }
    found = answer.find("\"value\":[") != std::string::npos;
    if (!found) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(found) << answer << prometheus.err();
  EXPECT_NE(answer.find("\"status\":\"success\""), std::string::npos) << answer;
  EXPECT_NE(answer.find(",\"7\"]"), std::string::npos) << "the counter okq-server has: " << answer;
  const auto up = http_body(http_get(web, "/api/v1/query?query=up%7Bjob%3D%22okq%22%7D", 2s));
  EXPECT_NE(up.find(",\"1\"]"), std::string::npos) << "Prometheus sees the target up: " << up;
  prometheus.signal(SIGTERM);
  EXPECT_TRUE(prometheus.wait(20s).has_value());
}

}  // namespace
}  // namespace okq::test
