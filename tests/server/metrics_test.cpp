// The /metrics endpoint's pure parts: the HTTP answer to each kind of request
// and the exposition text of a snapshot.
#include "okq/server/metrics.hpp"

#include <gtest/gtest.h>

#include <string>

namespace okq::server {
namespace {

const auto kBody = [] { return std::string("okq_up 1\n"); };

TEST(MetricsHttp, GetMetricsIsTheBodyInTheExpositionFormat) {
  const auto r = http_response("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*", kBody);
  EXPECT_EQ(r,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 9\r\nConnection: close\r\n\r\nokq_up 1\n");
  EXPECT_EQ(http_response("GET /metrics?x=1 HTTP/1.0", kBody), r) << "a query string is ignored";
}

TEST(MetricsHttp, HeadIsTheHeadersAlone) {
  const auto r = http_response("HEAD /metrics HTTP/1.1", kBody);
  EXPECT_NE(r.find("Content-Length: 9\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n") << r;
}

TEST(MetricsHttp, AnythingElseGetsAProperErrorAndNoBodyOfMetrics) {
  int rendered = 0;
  auto body = [&] {
    ++rendered;
    return std::string("x");
  };
  EXPECT_EQ(http_response("GET / HTTP/1.1", body).substr(0, 22), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(http_response("GET /metricsx HTTP/1.1", body).substr(0, 22), "HTTP/1.1 404 Not Found");
  const auto post = http_response("POST /metrics HTTP/1.1\r\nContent-Length: 3", body);
  EXPECT_EQ(post.substr(0, 31), "HTTP/1.1 405 Method Not Allowed") << post;
  EXPECT_NE(post.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << post;
  for (const char* bad :
       {"", "hello", "GET /metrics", "GET  /metrics HTTP/1.1", "GET /metrics FTP/1.0",
        " GET /metrics HTTP/1.1", "GET /metrics HTTP/1.1 extra"})
    EXPECT_EQ(http_response(bad, body).substr(0, 24), "HTTP/1.1 400 Bad Request") << bad;
  EXPECT_EQ(rendered, 0);
}

TEST(MetricsText, CountsFromEveryWorkerWithTheirLabels) {
  WorkerCounters a, b;
  a.messages.add(5);
  b.messages.add(7);
  a.bytes_in.add(100);
  a.count_close(CloseReason::IdleTimeout);
  b.count_close(CloseReason::IdleTimeout);
  b.count_close(CloseReason::ProxyInvalid);
  MetricsSnapshot s;
  s.version = "1.2.3";
  s.io = "epoll";
  s.start_time = 1700000000.25;
  s.connections = 3;
  s.max_connections = 10;
  s.accepted = 9;
  s.rejected = 2;
  s.untrusted = 4;
  s.workers = {{1, &a}, {2, &b}};
  const auto text = render_metrics(s);
  for (const char* line :
       {"okq_up 1\n", "okq_info{version=\"1.2.3\",io=\"epoll\"} 1\n",
        "process_start_time_seconds 1700000000.250\n", "okq_connections 3\n",
        "okq_max_connections 10\n", "okq_connections_accepted_total 9\n",
        "okq_connections_rejected_total 2\n",
        "okq_connections_closed_total{reason=\"idle_timeout\"} 2\n",
        "okq_proxy_header_failures_total{reason=\"invalid\"} 1\n",
        "okq_proxy_header_failures_total{reason=\"untrusted\"} 4\n",
        "okq_worker_connections{worker=\"1\"} 2\n", "okq_messages_total{worker=\"0\"} 5\n",
        "okq_messages_total{worker=\"1\"} 7\n", "okq_received_bytes_total{worker=\"0\"} 100\n",
        "# TYPE okq_messages_total counter\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
}

}  // namespace
}  // namespace okq::server
