// uring_driver.cpp -- the completion (io_uring) driver of a stream.
#include "okq/driver/uring_driver.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <new>

#include "okq/net/socket.hpp"

namespace okq::server {

UringDriver::UringDriver(net::Fd fd) : fd_(std::move(fd)) {}

void UringDriver::stop(Link& link) {
  if (link.stream().closed() || closing_) return;
  if (receiving_) {
    // What the receive armed before the stop still brings had arrived before
    // it: let that receive end, then count what waits in the kernel.
    stop_pending_ = true;
    cancel_receive(link);
    return;
  }
  link.begin_stop(net::bytes_unread(fd_.get()));
  resume(link);
}

void UringDriver::resume(Link& link) {
  if (closing_) return;
  try {
    step(link);
  } catch (const std::bad_alloc&) {
    // Out of memory for this connection's replies: it alone pays.
    link.fail(ENOMEM);
    finish(link);
  }
}

void UringDriver::step(Link& link) {
  if (link.stream().wants_fin()) send_fin(link);
  if (link.stream().closed()) return finish(link);
  if (link.loop().now() >= park_at()) {  // quiet for kQuiet: park it
    cancel_receive(link);
    parking_ = cancelling_;
  }
  arm_receive(link);
  send(link);
  if (!closing_) link.arm_timer();
}

void UringDriver::on_complete(Link& link, Completion done) {
  try {
    switch (done.op) {
      case kReceive:
        received(link, done);
        break;
      case kSend:
        --in_flight_;
        sending_ = false;
        if (closing_) break;
        if (done.result < 0)
          link.fail(-done.result);
        else
          link.sent(static_cast<std::size_t>(done.result));
        break;
      case kFin:
        --in_flight_;  // a failed FIN shows in the next receive
        break;
      case kPoll:  // readable (or an error, which the receive armed next reports)
        --in_flight_;
        parked_ = false;
        break;
    }
  } catch (const std::bad_alloc&) {
    link.fail(ENOMEM);
    finish(link);
  }
  if (closing_) {
    if (in_flight_ == 0) close_socket(link);
    return;
  }
  resume(link);
}

void UringDriver::received(Link& link, const Completion& done) {
  // The buffer goes back to the ring whatever becomes of its bytes.
  struct Recycle {
    UringPoller& ring;
    const Completion& done;
    ~Recycle() { ring.recycle(done); }
  } recycle{ring(link), done};
  if (!(done.flags & IORING_CQE_F_MORE)) {  // this receive has ended
    --in_flight_;
    receiving_ = false;
    cancelling_ = false;
  }
  if (closing_) return;
  const auto now = link.loop().now();
  if (done.result > 0) {
    park_at_ = now + kQuiet;
    ring(link).each_received(done, [&](std::string_view bytes) { link.input(bytes, now); });
  } else if (done.result == 0)
    link.eof(now);
  else if (done.result == -ENOBUFS)
    ring(link).ran_out_of_buffers();  // armed again below, once this pass has given buffers back
  else if (done.result != -ECANCELED)
    link.fail(-done.result);
  if (stop_pending_ && !receiving_) {
    stop_pending_ = false;
    link.begin_stop(net::bytes_unread(fd_.get()));  // on_complete() resumes next
  }
}

void UringDriver::arm_receive(Link& link) {
  const bool discard = link.stream().discards_input();
  if (!discard && (!link.stream().wants_input() || stop_pending_)) {
    // Back-pressure, or input has ended: a multishot receive would go on
    // filling buffers with bytes the session will not take now.
    if (receiving_ && multishot_) cancel_receive(link);
    return;
  }
  if (receiving_ || parked_) return;
  if (parking_) {
    parking_ = false;
    return arm_poll(link);
  }
  const int group = ring(link).buffer_group();
  if (group < 0) {
    link.fail(-group);
    return finish(link);
  }
  constexpr std::size_t size = UringPoller::kBufferSize;
  const std::size_t limit = discard ? size : link.stream().read_limit(size);
  io_uring_sqe* s = submission(link);
  if (!s) return;
  // A bounded read (classic framing: one read is one message; a stop: no
  // more than had arrived; a PROXY header: not a byte past its end) is one
  // single-shot receive of at most `limit`.
  multishot_ = limit >= size;
  if (multishot_) {
    io_uring_prep_recv_multishot(s, fd_.get(), nullptr, 0, 0);
    if (ring(link).bundles()) s->ioprio |= 1U << 4;  // IORING_RECVSEND_BUNDLE
  } else {
    io_uring_prep_recv(s, fd_.get(), nullptr, limit, 0);
  }
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = static_cast<__u16>(group);
  submitted(link, s, kReceive);
  receiving_ = true;
  park_at_ = link.loop().now() + kQuiet;
}

// Single-shot: once readable, the receive is armed again and the poll is gone.
void UringDriver::arm_poll(Link& link) {
  io_uring_sqe* s = submission(link);
  if (!s) return;
  io_uring_prep_poll_add(s, fd_.get(), POLLIN);
  submitted(link, s, kPoll);
  parked_ = true;
}

void UringDriver::cancel_receive(Link& link) {
  if (!receiving_ || cancelling_) return;
  io_uring_sqe* s = ring(link).sqe();
  if (!s) return;  // the receive goes on; the next step tries again
  io_uring_prep_cancel64(s, UringPoller::tag(&link, kReceive), 0);
  io_uring_sqe_set_data64(s, 0);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  cancelling_ = true;
}

// One send in flight, from the session's frozen output: it stays put until
// the completion says how much went, whatever the codec appends meanwhile.
void UringDriver::send(Link& link) {
  if (sending_ || closing_ || link.stream().closed() || link.stream().owed_bytes() == 0) return;
  const auto owed = link.stream().owed();
  io_uring_sqe* s = submission(link);
  if (!s) return;
  io_uring_prep_send(s, fd_.get(), owed.data(), owed.size(), MSG_NOSIGNAL);
  submitted(link, s, kSend);
  sending_ = true;
}

// Every reply is sent (wants_fin() needs nothing owed). Counted in flight so
// the socket cannot close, and its number be reused, before the kernel runs it.
void UringDriver::send_fin(Link& link) {
  io_uring_sqe* s = submission(link);
  if (!s) return;
  io_uring_prep_shutdown(s, fd_.get(), SHUT_WR);
  submitted(link, s, kFin);
  link.stream().on_fin_sent(link.loop().now());
}

io_uring_sqe* UringDriver::submission(Link& link) {
  io_uring_sqe* s = ring(link).sqe();
  if (!s) {
    link.fail(EBUSY);
    finish(link);
  }
  return s;
}

void UringDriver::submitted(Link& link, io_uring_sqe* sqe, Op op) noexcept {
  io_uring_sqe_set_data64(sqe, UringPoller::tag(&link, op));
  ++in_flight_;
}

void UringDriver::finish(Link& link) noexcept {
  if (closing_) return;
  closing_ = true;
  link.cancel_timer();
  if (in_flight_ == 0) return close_socket(link);
  // Every operation ends now (-ECANCELED, or its own result if it was
  // already running); the socket closes when the last one has completed.
  if (io_uring_sqe* s = ring(link).sqe()) {
    io_uring_prep_cancel_fd(s, fd_.get(), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(s, 0);
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  } else {
    ::shutdown(fd_.get(), SHUT_RDWR);  // ends them as surely, if less politely
  }
}

void UringDriver::close_socket(Link& link) noexcept {
  if (!fd_) return;
  fd_.reset();
  link.report_closed();
}

}  // namespace okq::server
