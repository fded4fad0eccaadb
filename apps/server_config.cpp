#include "server_config.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "okq/service/privileges.hpp"
#include "okq/tls/context.hpp"

namespace okq::server_cli {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// What `o` listens on, a line each: "plain 127.0.0.1:4242".
std::vector<std::string> listening(const Options& o) {
  const auto& s = o.server;
  std::vector<std::string> lines;
  const auto add = [&lines](const char* what, const std::vector<net::Endpoint>& endpoints) {
    for (const auto& e : endpoints) lines.push_back(fmt::format("{:<10} {}", what, e.to_string()));
  };
  add("plain", s.listen);
  add("proxy", s.proxy_listen);
  add("tls", s.tls_listen);
  add("proxy-tls", s.proxy_tls_listen);
  if (lines.empty())
    lines.push_back("plain      the sockets a service manager passes, else 0.0.0.0:4242");
  if (s.metrics) lines.push_back(fmt::format("{:<10} {}", "metrics", s.metrics->to_string()));
  if (s.upstream)
    lines.push_back(fmt::format("{:<10} {}{}", "upstream", s.upstream->to_string(),
                                s.upstream_tls ? " (TLS)" : ""));
  return lines;
}

}  // namespace

void reload(Options& current, server::Server& server, server::Logger& log,
            server::Handover& handover) {
  auto parsed = parse_again(current.program);
  if (const auto* why = std::get_if<std::string>(&parsed)) {
    log.log(server::Level::Error, "configuration not reloaded, nothing changed: {}", *why);
    return;
  }
  Options& next = std::get<Options>(parsed);
  std::vector<std::string> applied;
  for (const auto& name : changed(current, next)) {
    if (!changes_live(name)) {
      log.log(server::Level::Error, "{} changed in {}: needs an upgrade (SIGUSR2); left as it was",
              name, current.config);
      continue;
    }
    applied.push_back(name);
    if (const auto it = next.given.find(name); it != next.given.end())
      current.given[name] = it->second;
    else
      current.given.erase(name);
  }
  // Every live setting from `next`, whether it changed or not: the same
  // values again are no change, and the TLS files are read again either way.
  server.reconfigure(next.server);
  log.set_level(next.level);
  handover.set_ready_timeout(next.upgrade_timeout);
  log.log(server::Level::Info, "configuration reloaded from {}: {}", current.config,
          applied.empty() ? std::string("no setting changed") : "changed " + joined(applied));
}

int check_config(const Options& o) {
  try {
    const auto& s = o.server;
    if (!s.tls_listen.empty() || !s.proxy_tls_listen.empty() || !s.tls.cert.empty())
      tls::Context::server(s.tls);
    if (s.upstream_tls) tls::Context::client(*s.upstream_tls);
    if (!o.user.empty()) server::lookup_identity(o.user, o.group);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "okq-server: %s\n", e.what());
    return kExitUsage;
  }
  std::printf("okq-server: the configuration is valid%s\n",
              o.config.empty() ? "" : (" (" + o.config + ")").c_str());
  for (const auto& line : listening(o)) std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace okq::server_cli
