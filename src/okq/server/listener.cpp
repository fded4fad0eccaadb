// listener.cpp -- accepting connections.
#include "okq/server/listener.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "okq/net/socket.hpp"
#include "okq/server/activation.hpp"

namespace okq::server {

const char* socket_name(Entrance entrance) noexcept {
  if (entrance.proxy) return entrance.tls ? kProxyTlsSocketName : kProxySocketName;
  return entrance.tls ? kTlsSocketName : kPlainSocketName;
}

Entrance entrance_named(std::string_view name) noexcept {
  return {.proxy = name == kProxySocketName || name == kProxyTlsSocketName,
          .tls = name == kTlsSocketName || name == kProxyTlsSocketName};
}
namespace {

// Accepts per wake-up before other sockets get a turn; level-triggered epoll
// brings the listener back if more are queued.
constexpr int kAcceptBatch = 64;
// How long to stop accepting when out of descriptors or memory, instead of
// spinning on a listener that stays readable.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

}  // namespace

std::unique_ptr<Listener> Listener::open(const net::SocketAddress& addr, int backlog,
                                         int unix_mode) {
  net::Fd fd = net::listen_on(addr, backlog, unix_mode);
  auto bound = net::SocketAddress::local_of(fd.get());
  return std::make_unique<Listener>(std::move(fd), bound);
}

std::unique_ptr<Listener> Listener::from_inherited(net::Fd fd, bool owns_file) {
  auto bound = net::SocketAddress::local_of(fd.get());
  return std::make_unique<Listener>(std::move(fd), bound, owns_file);
}

Listener::Listener(net::Fd fd, net::SocketAddress bound, bool created)
    : fd_(std::move(fd)), address_(bound) {
  struct stat st {};
  if (const char* path = address_.unix_file(); created && path && ::lstat(path, &st) == 0) {
    file_dev_ = st.st_dev;
    file_ino_ = st.st_ino;
  }
}

Listener::~Listener() {
  close();
}

void Listener::start(EventLoop& loop, Logger& log, OnAccept on_accept) {
  loop_ = &loop;
  log_ = &log;
  on_accept_ = std::move(on_accept);
  if (const int rc = loop_->add(fd_.get(), Interest{.read = true}, this); rc != 0)
    throw std::system_error(-rc, std::generic_category(),
                            "cannot watch listener " + address_.to_string());
}

void Listener::close() noexcept {
  if (!fd_) return;
  if (loop_ && !paused_) loop_->remove(fd_.get());
  fd_.reset();
  remove_unix_file();
}

void Listener::remove_unix_file() const noexcept {
  // Someone may have replaced the file since (another server, an operator):
  // only the very file this listener's bind created is removed.
  const char* path = address_.unix_file();
  struct stat st {};
  if (!path || file_ino_ == 0 || ::lstat(path, &st) != 0) return;
  if (!S_ISSOCK(st.st_mode) || st.st_dev != file_dev_ || st.st_ino != file_ino_) return;
  if (::unlink(path) != 0 && log_)  // e.g. --user may not write the socket's directory
    log_->log(Level::Error, "cannot remove unix socket file {}: {}", path, std::strerror(errno));
}

void Listener::on_ready(Ready) {
  for (int i = 0; i < kAcceptBatch && fd_; ++i) {
    const int client = net::accept_one(fd_.get());
    if (client >= 0) {
      reported_ = false;
      on_accept_(net::Fd(client), *this);
      continue;
    }
    const int err = -client;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      pause_accepting(err);
      return;
    }
    // ECONNABORTED, EPROTO, EPERM (firewall): that one connection is gone, not the listener.
  }
}

void Listener::pause_accepting(int err) {
  // One line per burst: the pause repeats every 100 ms while it lasts.
  if (!reported_)
    log_->log(Level::Error, "cannot accept on {}: {}; retrying every {} ms until it clears",
              address_.to_string(), std::strerror(err), kAcceptPause.count());
  reported_ = true;
  paused_ = true;
  loop_->remove(fd_.get());
  loop_->run_at(EventLoop::Clock::now() + kAcceptPause, [this] {
    if (!fd_) return;
    if (loop_->add(fd_.get(), Interest{.read = true}, this) == 0) {
      paused_ = false;
      return;
    }
    pause_accepting(ENOMEM);  // the loop itself is short of memory: try again later
  });
}

}  // namespace okq::server
