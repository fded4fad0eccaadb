// drivers.hpp -- a connection on a backend: OnEpoll<Owner> and
// OnUring<Owner> are the owner's Link (an okq-server Connection, an
// okq-bench connection) with that backend's driver inside it, one object.
#pragma once

#include <utility>

#include "okq/driver/epoll_driver.hpp"
#include "okq/driver/uring_driver.hpp"

namespace okq::server {

template <class Owner>
class OnEpoll final : public Owner {
 public:
  // `args`: the owner's constructor's.
  template <class... Args>
  explicit OnEpoll(net::Fd fd, Args&&... args)
      : Owner(std::forward<Args>(args)...), driver_(std::move(fd)) {}

  void stop() override { driver_.stop(*this); }
  void on_ready(Ready ready) override { driver_.on_ready(*this, ready); }

 private:
  void resume() override { driver_.resume(*this); }
  void finish() noexcept override { driver_.finish(*this); }

  EpollDriver driver_;
};

template <class Owner>
class OnUring final : public Owner {
 public:
  // `args`: the owner's constructor's; its loop runs on an io_uring.
  template <class... Args>
  explicit OnUring(net::Fd fd, Args&&... args)
      : Owner(std::forward<Args>(args)...), driver_(std::move(fd)) {}

  void stop() override { driver_.stop(*this); }
  void on_ready(Ready) override {}  // its socket is never watched for readiness
  void on_complete(Completion done) override { driver_.on_complete(*this, done); }

 private:
  void resume() override { driver_.resume(*this); }
  void finish() noexcept override { driver_.finish(*this); }
  Link::Time driver_deadline() const noexcept override { return driver_.park_at(); }

  UringDriver driver_;
};

}  // namespace okq::server
