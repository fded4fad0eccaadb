// client.hpp -- okq-client's conversation (SPEC section 4): messages from an
// input descriptor to the server, each reply printed as "Server: REPLY", done
// after the 'Q' reply or, at end of input, once every owed reply has arrived.
// It owns its socket, not the input and output descriptors.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <system_error>

#include "okq/net/address.hpp"
#include "okq/net/error.hpp"
#include "okq/tls/context.hpp"

namespace okq::client {

struct ClientOptions {
  net::Endpoint server;
  std::size_t pipeline = 1;              // line mode: messages in flight
  std::chrono::milliseconds timeout{0};  // connect, each reply, the close after EOF; 0 = none
  std::size_t max_line = 4096;           // longest reply accepted (line framing)
  bool escape_controls = false;          // show control bytes as \xNN (stdout is a terminal)
  // A person types the lines (stdin and stdout are a terminal, line framing):
  // line editing and a history (LineEditor), one message at a time.
  bool interactive = false;
  bool classic = false;
  std::size_t classic_size = 20;
  std::optional<tls::Settings> tls;  // speak TLS (its CA, a client certificate)
  std::string tls_server_name;       // SNI and the name checked; "": the host given
  int in_fd = 0;
  int out_fd = 1;
};

// The seed client's exit codes, kept.
enum ExitCode : int {
  kExitOk = 0,
  kExitSocket = 1,
  kExitConnect = 2,
  kExitAddress = 3,
  kExitSend = 4,
  kExitRecv = 5,
  kExitUsage = 64,
  kExitOutput = 74,  // EX_IOERR: the replies could not be written out
};

// Writing the replies to the output failed (errno in code()).
struct OutputError : std::system_error {
  explicit OutputError(int err)
      : std::system_error(err, std::generic_category(), "cannot write the replies") {}
};

int exit_code_for(net::Call call) noexcept;

// Runs the whole conversation. Throws net::Error on failure; the caller maps
// error.call() to the exit code with exit_code_for().
void run(const ClientOptions& options);

// A reply as printed: NUL bytes and a trailing LF (or CR LF) removed; with
// `escape_controls`, other control bytes shown as \xNN so that a hostile
// server cannot drive the terminal.
std::string display_reply(std::string_view reply, bool escape_controls = false);

}  // namespace okq::client
