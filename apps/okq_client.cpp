// okq_client.cpp -- okq-client's command line. The conversation itself lives in
// src/okq/client.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <variant>

#include "cli_checks.hpp"
#include "okq/client/client.hpp"
#include "okq/net/fd.hpp"
#include "okq/version.hpp"

namespace {

using namespace okq;

std::variant<client::ClientOptions, int> parse_options(int argc, char** argv) {
  client::ClientOptions o;
  std::string address = "127.0.0.1:4242";
  double timeout = 0;
  CLI::App app{
      "okq-client: sends each stdin line to an okq server and prints \"Server: REPLY\".\n"
      "Exits 0 after the reply to a line starting with Q, or at end of input once every\n"
      "reply has arrived.",
      "okq-client"};
  app.set_version_flag("--version", std::string("okq-client ") + kVersion);
  app.add_option("address", address, "Server: HOST[:PORT], [V6]:PORT, :PORT, PORT, unix:PATH")
      ->capture_default_str();
  app.add_option("-P,--pipeline", o.pipeline, "Messages in flight (line framing)")
      ->check(cli::count(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--timeout", timeout,
                 "Seconds allowed for connecting, for each reply, and for the server to close "
                 "after end of input (0: none)")
      ->type_name("SECONDS")
      ->check(cli::seconds(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--max-line", o.max_line,
                 "Longest input line sent and longest reply accepted, in bytes")
      ->check(cli::count(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  auto* classic = app.add_flag("--classic", o.classic, "The seed's fixed-size framing, byte-exact");
  app.add_option("--classic-size", o.classic_size, "Bytes per classic message")
      ->check(cli::count(std::size_t{1}, std::size_t{65536}))
      ->capture_default_str();
  bool tls = false;
  tls::Settings tls_settings;
  cli::add_tls_client(app, tls, tls_settings, o.tls_server_name, "Speak TLS (1.2 or 1.3)")
      ->excludes(classic);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : client::kExitUsage;
  }
  if (tls) o.tls = tls_settings;
  o.timeout = cli::to_millis(timeout);
  o.escape_controls = ::isatty(o.out_fd) == 1;
  o.interactive = !o.classic && ::isatty(o.in_fd) == 1 && o.escape_controls;
  try {
    o.server = net::parse_endpoint(address, "127.0.0.1");
  } catch (const net::Error& e) {
    std::fprintf(stderr, "okq-client: %s\n", e.what());
    return client::exit_code_for(e.call());
  }
  return o;
}

int run(const client::ClientOptions& o) {
  try {
    client::run(o);
    return client::kExitOk;
  } catch (const net::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "okq-client: %s\n", e.what());
    return client::exit_code_for(e.call());
  } catch (const client::OutputError& e) {
    std::fprintf(stderr, "okq-client: %s\n", e.what());
    return client::kExitOutput;
  }
}

}  // namespace

int main(int argc, char** argv) {
  return cli::main_of<client::ClientOptions>("okq-client", argc, argv, parse_options, run);
}
