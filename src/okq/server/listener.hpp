// listener.hpp -- Listener: one listening socket registered with a loop. It
// accepts every pending connection and hands each to a callback. It owns its
// socket (and removes its unix socket file when closed, if the file at that
// path is still the one it created); it does not own the connections it accepts.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "okq/event/event_loop.hpp"
#include "okq/log/log.hpp"
#include "okq/net/address.hpp"
#include "okq/net/fd.hpp"

namespace okq::server {

// What a listener's clients send before their first message: a PROXY
// protocol header (a load balancer's), a TLS handshake, both (the header
// first, in plaintext), or neither.
struct Entrance {
  bool proxy = false;
  bool tls = false;
};

// The name an upgrade passes a listener of this entrance on with (and a
// socket unit may give, FileDescriptorName=), and back.
const char* socket_name(Entrance entrance) noexcept;
Entrance entrance_named(std::string_view name) noexcept;

class Listener final : public EventHandler {
 public:
  using OnAccept = std::function<void(net::Fd client, const Listener& from)>;

  // Listens on `addr`. Throws net::Error. `unix_mode` >= 0: permissions of a
  // unix socket file.
  static std::unique_ptr<Listener> open(const net::SocketAddress& addr, int backlog,
                                        int unix_mode = -1);

  // A socket a service manager passed: served, but its file (if a unix
  // socket) is never removed: this process did not create it. Unless
  // `owns_file`: an upgrade hands over the file with the socket.
  static std::unique_ptr<Listener> from_inherited(net::Fd fd, bool owns_file = false);

  Listener(net::Fd fd, net::SocketAddress bound, bool created = true);
  ~Listener();

  void start(EventLoop& loop, Logger& log, OnAccept on_accept);
  void close() noexcept;  // stops accepting; pending, unaccepted connections are refused
  // Handing over to another process that serves the same socket: its unix
  // socket file is that process's now and stays when this one closes.
  void disown() noexcept { file_ino_ = 0; }
  // This listener created its unix socket file (and removes it on close).
  bool owns_file() const noexcept { return file_ino_ != 0; }
  int fd() const noexcept { return fd_.get(); }
  void set_entrance(Entrance entrance) noexcept { entrance_ = entrance; }
  Entrance entrance() const noexcept { return entrance_; }
  // A PROXY listener: every client sends a PROXY protocol header first.
  bool proxy() const noexcept { return entrance_.proxy; }
  // A TLS listener: every client speaks TLS (after its header, if a PROXY one).
  bool tls() const noexcept { return entrance_.tls; }

  const net::SocketAddress& address() const noexcept { return address_; }
  bool is_tcp() const noexcept { return address_.family() != AF_UNIX; }

  void on_ready(Ready ready) override;

 private:
  void pause_accepting(int err);
  void remove_unix_file() const noexcept;

  net::Fd fd_;
  net::SocketAddress address_;  // as bound: port 0 replaced by the real port
  // The unix socket file this listener created (0 when none): removed on close
  // only if the path still names that very file.
  dev_t file_dev_ = 0;
  ino_t file_ino_ = 0;
  EventLoop* loop_ = nullptr;
  Logger* log_ = nullptr;
  OnAccept on_accept_;
  Entrance entrance_;
  bool paused_ = false;
  bool reported_ = false;  // this burst of accept failures is already in the log
};

}  // namespace okq::server
