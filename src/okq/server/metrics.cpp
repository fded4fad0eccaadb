// metrics.cpp -- the Prometheus text format of okq-server's counters and the
// small HTTP/1.1 endpoint that serves it.
#include "okq/server/metrics.hpp"

#include <sys/socket.h>

#include <fmt/format.h>

#include "okq/net/socket.hpp"

namespace okq::server {
namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename T>
void sample(std::string& out, std::string_view name, const T& value, std::string_view labels = {}) {
  if (labels.empty())
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
  else
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
}

// A family of one sample without labels.
template <typename T>
void single(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            const T& value) {
  family(out, name, type, help);
  sample(out, name, value);
}

// Connections closed for `why`, over every worker.
std::uint64_t closes(const MetricsSnapshot& s, CloseReason why) {
  std::uint64_t total = 0;
  for (const auto& w : s.workers) total += w.counters->closes(why);
  return total;
}

// One sample per worker: `get` reads its value from a worker.
template <typename Get>
void per_worker(std::string& out, std::string_view name, const MetricsSnapshot& s, Get get) {
  for (std::size_t i = 0; i < s.workers.size(); ++i)
    sample(out, name, get(s.workers[i]), fmt::format("worker=\"{}\"", i));
}

// TLS listeners: handshakes by result, and when the certificate lapses.
void render_tls(std::string& out, const MetricsSnapshot& s) {
  std::uint64_t full = 0, resumed = 0;
  for (const auto& w : s.workers) {
    full += w.counters->tls_full.get();
    resumed += w.counters->tls_resumed.get();
  }
  family(out, "okq_tls_handshakes_total", "counter",
         "TLS handshakes, by result (resumed: an earlier session's ticket).");
  sample(out, "okq_tls_handshakes_total", full, "result=\"full\"");
  sample(out, "okq_tls_handshakes_total", resumed, "result=\"resumed\"");
  sample(out, "okq_tls_handshakes_total", closes(s, CloseReason::TlsHandshakeFailed),
         "result=\"failed\"");
  sample(out, "okq_tls_handshakes_total", closes(s, CloseReason::TlsTimeout), "result=\"timeout\"");
  single(out, "okq_tls_certificate_not_after", "gauge",
         "When the certificate new handshakes present expires, in seconds since the Unix epoch.",
         s.tls_not_after);
}

std::string response(std::string_view status, std::string_view extra, std::string_view type,
                     std::string_view body, bool head_only) {
  return fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{}",
      status, type, body.size(), extra, head_only ? std::string_view() : body);
}

std::string error(std::string_view status, std::string_view extra = {}) {
  return response(status, extra, "text/plain; charset=utf-8", std::string(status) + "\n", false);
}

}  // namespace

std::string render_metrics(const MetricsSnapshot& s) {
  std::string out;
  out.reserve(4096);
  single(out, "okq_up", "gauge", "Whether okq-server is serving (always 1 when it answers).", 1);
  family(out, "okq_info", "gauge", "okq-server's version and I/O backend.");
  sample(out, "okq_info", 1, fmt::format("version=\"{}\",io=\"{}\"", s.version, s.io));
  single(out, "process_start_time_seconds", "gauge",
         "When okq-server started, in seconds since the Unix epoch.",
         fmt::format("{:.3f}", s.start_time));
  single(out, "okq_connections", "gauge", "Client connections being served now.", s.connections);
  single(out, "okq_max_connections", "gauge",
         "Client connections served at once (--max-connections); more are turned away.",
         s.max_connections);
  single(out, "okq_connections_rejecting", "gauge",
         "Client connections being turned away now (their ERR line draining).", s.rejecting);
  single(out, "okq_connections_accepted_total", "counter", "Client connections admitted.",
         s.accepted);
  single(out, "okq_connections_rejected_total", "counter",
         "Client connections turned away at --max-connections.", s.rejected);

  family(out, "okq_connections_closed_total", "counter",
         "Client connections ended, by reason (idle_timeout: --idle-timeout).");
  for (int r = 0; r < kCloseReasons; ++r) {
    const auto why = static_cast<CloseReason>(r);
    if (why == CloseReason::ProxyUntrusted) continue;  // never served: closed at accept
    sample(out, "okq_connections_closed_total", closes(s, why),
           fmt::format("reason=\"{}\"", label(why)));
  }
  family(out, "okq_proxy_header_failures_total", "counter",
         "PROXY listener connections closed without a usable header, by reason.");
  sample(out, "okq_proxy_header_failures_total", closes(s, CloseReason::ProxyInvalid),
         "reason=\"invalid\"");
  sample(out, "okq_proxy_header_failures_total", closes(s, CloseReason::ProxyTimeout),
         "reason=\"timeout\"");
  sample(out, "okq_proxy_header_failures_total", s.untrusted, "reason=\"untrusted\"");
  if (s.tls) render_tls(out, s);

  family(out, "okq_worker_connections", "gauge",
         "Client connections on each worker now (served or being turned away).");
  per_worker(out, "okq_worker_connections", s, [](const auto& w) { return w.connections; });
  family(out, "okq_messages_total", "counter", "Messages answered, by worker.");
  per_worker(out, "okq_messages_total", s,
             [](const auto& w) { return w.counters->messages.get(); });
  family(out, "okq_received_bytes_total", "counter", "Bytes read from clients, by worker.");
  per_worker(out, "okq_received_bytes_total", s,
             [](const auto& w) { return w.counters->bytes_in.get(); });
  family(out, "okq_sent_bytes_total", "counter", "Bytes written to clients, by worker.");
  per_worker(out, "okq_sent_bytes_total", s,
             [](const auto& w) { return w.counters->bytes_out.get(); });
  return out;
}

std::string http_response(std::string_view head, const std::function<std::string()>& body) {
  // The request line: METHOD SP TARGET SP HTTP/1.x
  const auto eol = head.find_first_of("\r\n");
  const std::string_view line = head.substr(0, eol);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos ||
      line.substr(sp2 + 1).substr(0, 5) != "HTTP/")
    return error("400 Bad Request");
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") return error("404 Not Found");
  if (method != "GET" && method != "HEAD")
    return error("405 Method Not Allowed", "Allow: GET, HEAD\r\n");
  return response("200 OK", {}, kMetricsContentType, body(), method == "HEAD");
}

// One scrape: read the request head, answer, send FIN, read until the
// client's FIN (closing with its bytes unread would reset the connection
// and could destroy the answer), all within kTimeout.
class MetricsEndpoint::Client final : public EventHandler {
 public:
  Client(MetricsEndpoint& owner, net::Fd fd) : owner_(owner), fd_(std::move(fd)) {}
  ~Client() {
    if (timer_ != 0) owner_.loop_->cancel(timer_);
    if (watched_) owner_.loop_->remove(fd_.get());
  }

  // Still waiting for its request (a silent scraper looks like this).
  bool waiting() const noexcept { return answer_.empty() && !ended_; }
  EventLoop::Clock::time_point since() const noexcept { return since_; }
  void drop() { end(); }

  bool start() {
    since_ = EventLoop::Clock::now();
    if (owner_.loop_->add(fd_.get(), Interest{.read = true}, this) != 0) return false;
    watched_ = true;
    timer_ = owner_.loop_->run_at(EventLoop::Clock::now() + kTimeout, [this] {
      timer_ = 0;
      end();
    });
    return true;
  }

  void on_ready(Ready) override {
    if (ended_) return;
    if (answer_.empty())
      read_request();
    else if (sent_ < answer_.size())
      write();
    else
      drain();
  }

 private:
  void read_request() {
    char buf[2048];
    for (;;) {
      const auto n = net::recv_some(fd_.get(), buf, sizeof buf);
      if (n == -EAGAIN) return;
      if (n <= 0) return end();  // gone before asking
      request_.append(buf, static_cast<std::size_t>(n));
      auto stop = request_.find("\r\n\r\n");
      if (stop == std::string::npos) stop = request_.find("\n\n");
      if (stop != std::string::npos) {
        answer_ = http_response(std::string_view(request_).substr(0, stop), owner_.render_);
        break;
      }
      if (request_.size() > kMaxRequest) {
        answer_ = error("431 Request Header Fields Too Large");
        break;
      }
    }
    request_.clear();
    request_.shrink_to_fit();
    if (owner_.loop_->modify(fd_.get(), Interest{.write = true}, this) != 0) return end();
    write();
  }

  void write() {
    while (sent_ < answer_.size()) {
      const auto n = net::send_some(fd_.get(), answer_.data() + sent_, answer_.size() - sent_);
      if (n == -EAGAIN) return;
      if (n < 0) return end();
      sent_ += static_cast<std::size_t>(n);
    }
    ::shutdown(fd_.get(), SHUT_WR);
    if (owner_.loop_->modify(fd_.get(), Interest{.read = true}, this) != 0) return end();
    drain();
  }

  void drain() {
    char buf[2048];
    for (;;) {
      const auto n = net::recv_some(fd_.get(), buf, sizeof buf);
      if (n == -EAGAIN) return;
      if (n <= 0) return end();
    }
  }

  void end() {
    if (ended_) return;
    ended_ = true;
    owner_.finished(*this);
  }

  MetricsEndpoint& owner_;
  net::Fd fd_;
  std::string request_;
  std::string answer_;
  std::size_t sent_ = 0;
  EventLoop::TimerId timer_ = 0;
  EventLoop::Clock::time_point since_{};
  bool watched_ = false;
  bool ended_ = false;
};

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<Listener> listener, Logger& log, Render render)
    : listener_(std::move(listener)), log_(log), render_(std::move(render)) {}

MetricsEndpoint::~MetricsEndpoint() {
  close();
}

void MetricsEndpoint::start(EventLoop& loop) {
  loop_ = &loop;
  listener_->start(loop, log_, [this](net::Fd fd, const Listener&) { accept(std::move(fd)); });
}

void MetricsEndpoint::close() noexcept {
  listener_->close();
  clients_.clear();
  live_ = 0;
}

void MetricsEndpoint::accept(net::Fd fd) {
  // Full: the longest-silent scraper makes room, so that connections that
  // say nothing cannot blind monitoring; if every one is being answered,
  // the newcomer waits its turn by being closed.
  if (live_ >= kMaxClients && !drop_oldest_silent()) return;  // fd closes here
  auto client = std::make_unique<Client>(*this, std::move(fd));
  if (!client->start()) return;
  auto* key = client.get();
  clients_.emplace(key, std::move(client));
  ++live_;
}

bool MetricsEndpoint::drop_oldest_silent() {
  Client* oldest = nullptr;
  for (auto& [key, client] : clients_)
    if (client->waiting() && (!oldest || client->since() < oldest->since())) oldest = key;
  if (!oldest) return false;
  oldest->drop();
  return true;
}

void MetricsEndpoint::finished(Client& client) {
  --live_;
  // Called from inside the client: destroyed after this batch.
  loop_->defer([this, key = &client] { clients_.erase(key); });
}

}  // namespace okq::server
