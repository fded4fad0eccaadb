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
      : Owner(std::forward<Args>(args)...), driver_(*this, std::move(fd)) {}

  void stop() override { driver_.stop(); }

 private:
  void resume() override { driver_.resume(); }
  void finish() noexcept override { driver_.finish(); }

  EpollDriver driver_;
};

template <class Owner>
class OnUring final : public Owner {
 public:
  // `args`: the owner's constructor's; its loop runs on an io_uring.
  template <class... Args>
  explicit OnUring(net::Fd fd, Args&&... args)
      : Owner(std::forward<Args>(args)...), driver_(*this, std::move(fd)) {}

  void stop() override { driver_.stop(); }

 private:
  void resume() override { driver_.resume(); }
  void finish() noexcept override { driver_.finish(); }
  Link::Time driver_deadline() const noexcept override { return driver_.park_at(); }

  UringDriver driver_;
};

}  // namespace okq::server
