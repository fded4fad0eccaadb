// settings.cpp -- what changes while the server runs: the TLS context
// (loaded at start, loaded again on SIGHUP) and the settings a reload
// applies to the workers.
#include <algorithm>
#include <ctime>

#include "okq/server/server.hpp"

namespace okq::server {

void Server::load_tls() {
  if (std::none_of(listeners_.begin(), listeners_.end(), [](const auto& l) { return l->tls(); }))
    return;
  auto context = tls::Context::server(options_.tls);
  log_certificate("TLS certificate", *context);
  tls_.store(std::move(context));
  if (!options_.tls.ktls) return;
  // Kernel TLS takes over a socket's records once OpenSSL hands it the keys,
  // which it does only for a socket BIO; okq's stage runs over its own
  // buffers (one stage for both backends).
  const std::string missing = tls::kernel_tls_unavailable();
  log_.log(Level::Info, "--tls-ktls: {}; TLS stays in okq",
           missing.empty() ? "the kernel has TLS, but okq's TLS stage runs over its own buffers"
                           : "the kernel has no TLS (" + missing + ")");
}

void Server::reconfigure(const ServerOptions& next) {
  options_.codec.max_line = next.codec.max_line;
  options_.max_output = next.max_output;
  options_.idle_timeout = next.idle_timeout;
  options_.proxy_timeout = next.proxy_timeout;
  options_.upstream_timeout = next.upstream_timeout;
  options_.tls_handshake_timeout = next.tls_handshake_timeout;
  options_.max_connections = next.max_connections;
  options_.proxy_from = next.proxy_from;
  options_.shutdown_timeout = next.shutdown_timeout;
  options_.tls = next.tls;
  limits_ = connection_limits(options_);
  for (auto& worker : workers_) worker->set_limits(limits_);
  reload_tls();
}

bool Server::reload_tls() {
  const auto before = tls_.load();
  if (!before) return false;
  try {
    auto context = tls::Context::server(options_.tls);
    log_certificate("TLS certificate reloaded", *context);
    tls_.store(std::move(context));
    return true;
  } catch (const tls::Error& e) {
    log_.log(Level::Error, "TLS reload failed, still serving certificate serial {}: {}",
             before->serial(), e.what());
    return false;
  }
}

void Server::log_certificate(const char* what, const tls::Context& context) {
  const std::time_t expires = static_cast<std::time_t>(context.not_after());
  char when[32] = "?";
  if (std::tm tm{}; gmtime_r(&expires, &tm))
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
  log_.log(Level::Info, "{}: {}, serial {}, expires {}", what, options_.tls.cert, context.serial(),
           when);
}

}  // namespace okq::server
