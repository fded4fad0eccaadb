// client.cpp -- connecting, and the line and classic conversations.
#include "okq/client/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <optional>
#include <vector>

#include "okq/client/line_editor.hpp"
#include "okq/client/wire.hpp"
#include "okq/net/socket.hpp"
#include "okq/proto/line_splitter.hpp"
#include "okq/proto/output_buffer.hpp"

namespace okq::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kChunk = 64 * 1024;

net::Fd connect_any(const ClientOptions& o) {
  const auto addresses = net::resolve(o.server, /*passive=*/false);
  for (std::size_t i = 0;; ++i) {
    try {
      return net::connect_to(addresses[i], o.timeout);
    } catch (const net::Error&) {
      if (i + 1 == addresses.size()) throw;  // the last one speaks for all
    }
  }
}

// Replies that cannot be printed are lost to the user: that is a failure
// (`okq-client > /dev/full`), not a success.
void write_all(int fd, std::string_view bytes) {
  if (const int err = net::write_all(fd, bytes); err != 0) throw OutputError(err);
}

ssize_t read_input(int fd, char* buf, std::size_t len) {
  for (;;) {
    const ssize_t n = ::read(fd, buf, len);
    if (n >= 0 || errno != EINTR) return n;
  }
}

// Polls `fds`, bounded by `deadline` when set. False on timeout.
bool wait(std::vector<pollfd>& fds, std::optional<Clock::time_point> deadline) {
  for (;;) {
    int ms = -1;
    if (deadline) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
      ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    const int rc = ::poll(fds.data(), fds.size(), ms);
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) throw net::Error(net::Call::Recv, "poll", errno);
  }
}

// Line framing with up to `pipeline` messages in flight.
class Conversation {
 public:
  Conversation(const ClientOptions& o, Wire& wire, LineEditor* editor)
      : o_(o), wire_(wire), editor_(editor), name_(o.server.to_string()) {}

  void run() {
    while (!done_) {
      queue_messages();
      flush_output();
      // At a terminal the next line is asked for once every reply is in
      // and every message sent, so a prompt never meets a reply.
      if (editor_ && !input_eof_ && in_flight_ == 0 && queued_.empty() && !wire_.wants_write()) {
        read_terminal();
        continue;
      }
      std::vector<pollfd> fds;
      const bool want_input = !input_eof_ && queued_.size() < o_.pipeline;
      if (want_input) fds.push_back({o_.in_fd, POLLIN, 0});
      fds.push_back(
          {wire_.fd(), static_cast<short>(POLLIN | (wire_.wants_write() ? POLLOUT : 0)), 0});
      if (!wait(fds, deadline()))
        throw net::Error(net::Call::Recv, name_,
                         in_flight_ > 0 ? "timed out waiting for a reply"
                                        : "timed out waiting for the server to close");
      const pollfd& s = fds.back();
      if (want_input && fds.front().revents) read_stdin();
      if (s.revents & POLLOUT) wire_.send();
      if (s.revents & (POLLIN | POLLHUP | POLLERR)) receive();
    }
    flush_output();
    if (!input_error_.empty()) throw net::Error(net::Call::Send, name_, input_error_);
  }

 private:
  // Bounded while a reply is owed and, after our half-close, while waiting for
  // the server to close too.
  std::optional<Clock::time_point> deadline() const {
    if (o_.timeout.count() == 0 || (in_flight_ == 0 && !half_closed_)) return std::nullopt;
    return last_progress_ + o_.timeout;
  }

  void read_terminal() {
    const auto line = editor_->read_line();
    if (!line) {
      input_eof_ = true;  // Ctrl-D
      return;
    }
    take_line(*line);
  }

  void read_stdin() {
    char buf[kChunk];
    const ssize_t n = read_input(o_.in_fd, buf, sizeof buf);
    if (n <= 0) {
      input_eof_ = true;
      // An unterminated last line is still a message.
      if (!lines_.tail().empty()) queued_.push_back(lines_.tail());
      lines_.clear_tail();
      return;
    }
    lines_.feed(std::string_view(buf, static_cast<std::size_t>(n)), [this](std::string_view line) {
      if (input_error_.empty()) take_line(line);
    });
    // A line without end (`< /dev/zero`) must not grow without limit.
    if (input_error_.empty() && lines_.tail().size() > o_.max_line) {
      ++lines_read_;
      refuse_input();
    }
    if (!input_error_.empty()) lines_.clear_tail();
  }

  // One line of input: queued, or past --max-line the end of the input.
  void take_line(std::string_view line) {
    ++lines_read_;
    if (line.size() > o_.max_line) return refuse_input();
    queued_.emplace_back(line);
  }

  // A line the server would refuse is not sent: what came before it is
  // answered and printed, then the client fails saying which line.
  void refuse_input() {
    input_error_ = "input line " + std::to_string(lines_read_) + " is longer than --max-line (" +
                   std::to_string(o_.max_line) + " bytes); not sent, nor anything after it";
    input_eof_ = true;
  }

  // Moves queued lines into the send buffer while the pipeline has room.
  void queue_messages() {
    while (!queued_.empty() && in_flight_ < o_.pipeline) {
      if (in_flight_ == 0) last_progress_ = Clock::now();
      wire_.out().append(queued_.front());
      wire_.out().append("\n");
      queued_.pop_front();
      ++in_flight_;
    }
    if (input_eof_ && queued_.empty() && !half_closed_) {
      // No more messages come (a FIN once they are written); the server
      // still answers what it owes.
      wire_.finish_sending();
      half_closed_ = true;
      if (in_flight_ == 0) last_progress_ = Clock::now();
    }
    if (wire_.wants_write()) wire_.send();
  }

  void receive() {
    std::string bytes;
    const bool open = wire_.receive(bytes);  // the server's last replies may come with its end
    take_replies(bytes);
    if (open || done_) return;
    if (half_closed_ && in_flight_ == 0) {
      done_ = true;  // every message answered, and the server agrees it is over
      return;
    }
    throw net::Error(net::Call::Recv, name_, "server closed the connection before Q");
  }

  void take_replies(std::string_view bytes) {
    replies_.feed(bytes, [this](std::string_view r) {
      if (done_) return;                           // nothing is owed after the Q reply
      if (r.size() > o_.max_line + 1) too_long();  // + 1: the CR of a CR LF
      output_ += "Server: ";
      output_ += display_reply(r, o_.escape_controls);
      output_ += '\n';
      if (in_flight_ == 0) unsolicited();
      --in_flight_;
      // An ERR reply (too long, too many connections, upstream unavailable)
      // ends the conversation, wherever it comes: the same failure each time.
      if (r.starts_with("ERR")) refused(r);
      last_progress_ = Clock::now();
      if (!r.empty() && r.front() == 'Q') done_ = true;
    });
    // A reply that never ends must not grow without limit.
    if (!done_ && replies_.tail().size() > o_.max_line + 1) too_long();
  }

  [[noreturn]] void refused(std::string_view reply) {
    flush_output();
    throw net::Error(net::Call::Recv, name_,
                     "the server answered " + display_reply(reply, /*escape_controls=*/true));
  }

  [[noreturn]] void unsolicited() {
    flush_output();  // shown, so the user sees what came
    throw net::Error(net::Call::Recv, name_, "a reply to no message (more replies than messages)");
  }

  [[noreturn]] void too_long() {
    flush_output();  // the replies before it were real
    throw net::Error(net::Call::Recv, name_,
                     "reply too long (over " + std::to_string(o_.max_line) + " bytes; --max-line)");
  }

  void flush_output() {
    write_all(o_.out_fd, output_);
    output_.clear();
  }

  const ClientOptions& o_;
  Wire& wire_;
  LineEditor* editor_;  // null: the input is read as bytes, as it comes
  std::string name_;
  proto::LineSplitter lines_;    // stdin
  proto::LineSplitter replies_;  // socket
  std::deque<std::string> queued_;
  std::string output_;  // bytes to print
  std::size_t in_flight_ = 0;
  std::uint64_t lines_read_ = 0;
  std::string input_error_;  // why input stopped early ("" if it did not)
  Clock::time_point last_progress_{};
  bool input_eof_ = false;
  bool half_closed_ = false;
  bool done_ = false;
};

// The seed's lockstep: one read of up to N bytes is one message, sent as
// exactly N bytes zero-padded; one read of up to N bytes is the reply.
void run_classic(const ClientOptions& o, net::Fd sock) {
  const std::string name = o.server.to_string();
  const auto until = [&]() -> std::optional<Clock::time_point> {
    if (o.timeout.count() == 0) return std::nullopt;
    return Clock::now() + o.timeout;
  };
  std::vector<char> buf(o.classic_size);
  for (;;) {
    const ssize_t got = read_input(o.in_fd, buf.data(), buf.size());
    if (got <= 0) {
      ::shutdown(sock.get(), SHUT_WR);
      return;
    }
    std::string frame(buf.data(), static_cast<std::size_t>(got));
    frame.resize(o.classic_size, '\0');  // never stale bytes from the last message
    std::string_view rest = frame;
    const auto send_deadline = until();
    while (!rest.empty()) {
      std::vector<pollfd> fds{{sock.get(), POLLOUT, 0}};
      if (!wait(fds, send_deadline)) throw net::Error(net::Call::Send, name, ETIMEDOUT);
      const ssize_t n = net::send_some(sock.get(), rest.data(), rest.size());
      if (n == -EAGAIN) continue;
      if (n < 0) throw net::Error(net::Call::Send, name, static_cast<int>(-n));
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    std::vector<pollfd> fds{{sock.get(), POLLIN, 0}};
    if (!wait(fds, until()))
      throw net::Error(net::Call::Recv, name, "timed out waiting for a reply");
    const ssize_t n = net::recv_some(sock.get(), buf.data(), buf.size());
    if (n == 0) throw net::Error(net::Call::Recv, name, "server closed the connection before Q");
    if (n < 0) throw net::Error(net::Call::Recv, name, static_cast<int>(-n));
    const std::string_view reply(buf.data(), static_cast<std::size_t>(n));
    write_all(o.out_fd, "Server: " + display_reply(reply, o.escape_controls) + "\n");
    if (reply.front() == 'Q') return;
  }
}

}  // namespace

int exit_code_for(net::Call call) noexcept {
  switch (call) {
    case net::Call::Socket:
      return kExitSocket;
    case net::Call::Connect:
      return kExitConnect;
    case net::Call::Parse:
    case net::Call::Resolve:
      return kExitAddress;
    case net::Call::Send:
      return kExitSend;
    case net::Call::Bind:
    case net::Call::Listen:
    case net::Call::Recv:
      return kExitRecv;
  }
  return kExitRecv;
}

std::string display_reply(std::string_view reply, bool escape_controls) {
  std::string kept;
  kept.reserve(reply.size());
  for (const char c : reply)
    if (c != '\0') kept += c;
  if (kept.ends_with('\n')) kept.pop_back();
  if (kept.ends_with('\r')) kept.pop_back();
  if (!escape_controls) return kept;
  std::string out;
  out.reserve(kept.size());
  for (const char c : kept) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

void run(const ClientOptions& options) {
  net::Fd sock = connect_any(options);
  if (options.classic) return run_classic(options, std::move(sock));
  std::shared_ptr<const tls::Context> context;
  if (options.tls) {
    try {
      context = tls::Context::client(*options.tls);
    } catch (const tls::Error& e) {
      throw net::Error(net::Call::Connect, options.server.to_string(), e.what());
    }
  }
  const std::string name =
      options.tls_server_name.empty() ? options.server.host : options.tls_server_name;
  Wire wire(std::move(sock), options.server.to_string(), std::move(context), name);
  std::optional<Clock::time_point> deadline;
  if (options.timeout.count() > 0) deadline = Clock::now() + options.timeout;
  wire.open(deadline);
  std::optional<LineEditor> editor;
  if (options.interactive)
    editor.emplace(options.server.to_string() + "> ", default_history_file());
  Conversation(options, wire, editor ? &*editor : nullptr).run();
}

}  // namespace okq::client
