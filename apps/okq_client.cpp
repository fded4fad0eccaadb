// okq_client.cpp -- okq-client's command line. The conversation itself lives in
// src/okq/client.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "okq/client/client.hpp"

int main(int argc, char** argv) {
  using namespace okq;
  client::ClientOptions options;
  std::string address = "127.0.0.1:4242";
  double timeout = 0;

  CLI::App app{
      "okq-client: sends each stdin line to an okq server and prints \"Server: REPLY\".\n"
      "Exits 0 after the reply to a line starting with Q, or at end of input once every\n"
      "reply has arrived.",
      "okq-client"};
  app.set_version_flag("--version", "okq-client 0.1.0");
  app.add_option("address", address, "Server: HOST[:PORT], [V6]:PORT, :PORT, PORT, unix:PATH")
      ->capture_default_str();
  app.add_option("-P,--pipeline", options.pipeline, "Messages in flight (line framing)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--timeout", timeout,
                 "Seconds allowed for connecting and for each reply (0: none)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_flag("--classic", options.classic, "The seed's fixed-size framing, byte-exact");
  app.add_option("--classic-size", options.classic_size, "Bytes per classic message")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : client::kExitUsage;
  }
  options.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout * 1000));
  try {
    options.server = net::parse_endpoint(address, "127.0.0.1");
    client::run(options);
    return client::kExitOk;
  } catch (const net::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "okq-client: %s\n", e.what());
    return client::exit_code_for(e.call());
  }
}
