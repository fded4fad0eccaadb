// uring_driver.cpp -- the completion (io_uring) driver of a stream.
#include "okq/driver/uring_driver.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <new>

#include "okq/net/socket.hpp"

namespace okq::server {

UringDriver::UringDriver(Link& link, net::Fd fd) : link_(link), fd_(std::move(fd)) {}

void UringDriver::stop() {
  if (link_.stream().closed() || closing_) return;
  if (receiving_) {
    // What the receive armed before the stop still brings had arrived before
    // it: let that receive end, then count what waits in the kernel.
    stop_pending_ = true;
    cancel_receive();
    return;
  }
  link_.begin_stop(net::bytes_unread(fd_.get()));
  resume();
}

void UringDriver::resume() {
  if (closing_) return;
  try {
    step();
  } catch (const std::bad_alloc&) {
    // Out of memory for this connection's replies: it alone pays.
    link_.fail(ENOMEM);
    finish();
  }
}

void UringDriver::step() {
  if (link_.stream().wants_fin()) send_fin();
  if (link_.stream().closed()) return finish();
  if (link_.loop().now() >= park_at()) {  // quiet for kQuiet: park it
    cancel_receive();
    parking_ = cancelling_;
  }
  arm_receive();
  send();
  if (!closing_) link_.arm_timer();
}

void UringDriver::on_complete(Completion done) {
  try {
    switch (done.op) {
      case kReceive:
        received(done);
        break;
      case kSend:
        --in_flight_;
        sending_ = false;
        if (closing_) break;
        if (done.result < 0)
          link_.fail(-done.result);
        else
          link_.sent(static_cast<std::size_t>(done.result));
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
    link_.fail(ENOMEM);
    finish();
  }
  if (closing_) {
    if (in_flight_ == 0) close_socket();
    return;
  }
  resume();
}

void UringDriver::received(const Completion& done) {
  // The buffer goes back to the ring whatever becomes of its bytes.
  struct Recycle {
    UringPoller& ring;
    const Completion& done;
    ~Recycle() { ring.recycle(done); }
  } recycle{ring(), done};
  if (!(done.flags & IORING_CQE_F_MORE)) {  // this receive has ended
    --in_flight_;
    receiving_ = false;
    cancelling_ = false;
  }
  if (closing_) return;
  const auto now = link_.loop().now();
  if (done.result > 0) {
    park_at_ = now + kQuiet;
    link_.input(ring().received(done), now);  // dropped while lingering
  } else if (done.result == 0)
    link_.eof(now);
  else if (done.result == -ENOBUFS)
    ring().ran_out_of_buffers();  // armed again below, once this pass has given buffers back
  else if (done.result != -ECANCELED)
    link_.fail(-done.result);
  if (stop_pending_ && !receiving_) {
    stop_pending_ = false;
    link_.begin_stop(net::bytes_unread(fd_.get()));  // on_complete() resumes next
  }
}

void UringDriver::arm_receive() {
  const bool discard = link_.stream().discards_input();
  if (!discard && (!link_.stream().wants_input() || stop_pending_)) {
    // Back-pressure, or input has ended: a multishot receive would go on
    // filling buffers with bytes the session will not take now.
    if (receiving_ && multishot_) cancel_receive();
    return;
  }
  if (receiving_ || parked_) return;
  if (parking_) {
    parking_ = false;
    return arm_poll();
  }
  const int group = ring().buffer_group();
  if (group < 0) {
    link_.fail(-group);
    return finish();
  }
  constexpr std::size_t size = UringPoller::kBufferSize;
  const std::size_t limit = discard ? size : link_.stream().read_limit(size);
  io_uring_sqe* s = submission();
  if (!s) return;
  // A bounded read (classic framing: one read is one message; a stop: no
  // more than had arrived; a PROXY header: not a byte past its end) is one
  // single-shot receive of at most `limit`.
  multishot_ = limit >= size;
  if (multishot_)
    io_uring_prep_recv_multishot(s, fd_.get(), nullptr, 0, 0);
  else
    io_uring_prep_recv(s, fd_.get(), nullptr, limit, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = static_cast<__u16>(group);
  submitted(s, kReceive);
  receiving_ = true;
  park_at_ = link_.loop().now() + kQuiet;
}

// Single-shot: once readable, the receive is armed again and the poll is gone.
void UringDriver::arm_poll() {
  io_uring_sqe* s = submission();
  if (!s) return;
  io_uring_prep_poll_add(s, fd_.get(), POLLIN);
  submitted(s, kPoll);
  parked_ = true;
}

void UringDriver::cancel_receive() {
  if (!receiving_ || cancelling_) return;
  io_uring_sqe* s = ring().sqe();
  if (!s) return;  // the receive goes on; the next step tries again
  io_uring_prep_cancel64(s, UringPoller::tag(this, kReceive), 0);
  io_uring_sqe_set_data64(s, 0);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  cancelling_ = true;
}

// One send in flight, from the session's frozen output: it stays put until
// the completion says how much went, whatever the codec appends meanwhile.
void UringDriver::send() {
  if (sending_ || closing_ || link_.stream().closed() || link_.stream().owed_bytes() == 0) return;
  const auto owed = link_.stream().owed();
  io_uring_sqe* s = submission();
  if (!s) return;
  io_uring_prep_send(s, fd_.get(), owed.data(), owed.size(), MSG_NOSIGNAL);
  submitted(s, kSend);
  sending_ = true;
}

// Every reply is sent (wants_fin() needs nothing owed). Counted in flight so
// the socket cannot close, and its number be reused, before the kernel runs it.
void UringDriver::send_fin() {
  io_uring_sqe* s = submission();
  if (!s) return;
  io_uring_prep_shutdown(s, fd_.get(), SHUT_WR);
  submitted(s, kFin);
  link_.stream().on_fin_sent(link_.loop().now());
}

io_uring_sqe* UringDriver::submission() {
  io_uring_sqe* s = ring().sqe();
  if (!s) {
    link_.fail(EBUSY);
    finish();
  }
  return s;
}

void UringDriver::submitted(io_uring_sqe* sqe, Op op) noexcept {
  io_uring_sqe_set_data64(sqe, UringPoller::tag(this, op));
  ++in_flight_;
}

void UringDriver::finish() noexcept {
  if (closing_) return;
  closing_ = true;
  link_.cancel_timer();
  if (in_flight_ == 0) return close_socket();
  // Every operation ends now (-ECANCELED, or its own result if it was
  // already running); the socket closes when the last one has completed.
  if (io_uring_sqe* s = ring().sqe()) {
    io_uring_prep_cancel_fd(s, fd_.get(), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(s, 0);
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  } else {
    ::shutdown(fd_.get(), SHUT_RDWR);  // ends them as surely, if less politely
  }
}

void UringDriver::close_socket() noexcept {
  if (!fd_) return;
  fd_.reset();
  link_.report_closed();
}

}  // namespace okq::server
