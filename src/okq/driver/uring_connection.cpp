// uring_connection.cpp -- the completion (io_uring) driver of a Session.
#include "okq/driver/uring_connection.hpp"

#include <sys/socket.h>

#include <new>

#include "okq/net/socket.hpp"

namespace okq::server {

UringConnection::UringConnection(std::uint64_t id, net::Fd fd, std::string peer,
                                 ConnectionContext& ctx, UringPoller& ring, OnClosed on_closed)
    : Connection(id, std::move(peer), ctx, std::move(on_closed)), fd_(std::move(fd)), ring_(ring) {}

void UringConnection::stop() {
  if (stream_->closed() || closing_) return;
  if (receiving_) {
    // What the receive armed before the stop still brings had arrived before
    // it: let that receive end, then count what waits in the kernel.
    stop_pending_ = true;
    cancel_receive();
    return;
  }
  begin_stop(net::bytes_unread(fd_.get()));
  resume();
}

void UringConnection::resume() {
  if (closing_) return;
  try {
    step();
  } catch (const std::bad_alloc&) {
    // Out of memory for this connection's replies: it alone pays.
    fail(ENOMEM);
    finish();
  }
}

void UringConnection::step() {
  if (stream_->wants_fin()) send_fin();
  if (stream_->closed()) return finish();
  arm_receive();
  send();
  if (!closing_) arm_timer();
}

void UringConnection::on_complete(Completion done) {
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
          fail(-done.result);
        else
          sent(static_cast<std::size_t>(done.result));
        break;
      case kFin:
        --in_flight_;  // a failed FIN shows in the next receive
        break;
    }
  } catch (const std::bad_alloc&) {
    fail(ENOMEM);
    finish();
  }
  if (closing_) {
    if (in_flight_ == 0) close_socket();
    return;
  }
  resume();
}

void UringConnection::received(const Completion& done) {
  // The buffer goes back to the ring whatever becomes of its bytes.
  struct Recycle {
    UringPoller& ring;
    const Completion& done;
    ~Recycle() { ring.recycle(done); }
  } recycle{ring_, done};
  if (!(done.flags & IORING_CQE_F_MORE)) {  // this receive has ended
    --in_flight_;
    receiving_ = false;
    cancelling_ = false;
  }
  if (closing_) return;
  const auto now = ctx_.loop.now();
  if (done.result > 0)
    input(ring_.received(done), now);  // dropped while lingering
  else if (done.result == 0)
    eof(now);
  else if (done.result == -ENOBUFS)
    ring_.ran_out_of_buffers();  // armed again below, once this pass has given buffers back
  else if (done.result != -ECANCELED)
    fail(-done.result);
  if (stop_pending_ && !receiving_) {
    stop_pending_ = false;
    begin_stop(net::bytes_unread(fd_.get()));  // on_complete() resumes next
  }
}

void UringConnection::arm_receive() {
  const bool discard = stream_->discards_input();
  if (!discard && (!stream_->wants_input() || stop_pending_)) {
    // Back-pressure, or input has ended: a multishot receive would go on
    // filling buffers with bytes the session will not take now.
    if (receiving_ && multishot_) cancel_receive();
    return;
  }
  if (receiving_) return;
  const int group = ring_.buffer_group();
  if (group < 0) {
    fail(-group);
    return finish();
  }
  constexpr std::size_t size = UringPoller::kBufferSize;
  const std::size_t limit = discard ? size : stream_->read_limit(size);
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
}

void UringConnection::cancel_receive() {
  if (!receiving_ || cancelling_) return;
  io_uring_sqe* s = ring_.sqe();
  if (!s) return;  // the receive goes on; the next step tries again
  io_uring_prep_cancel64(s, UringPoller::tag(this, kReceive), 0);
  io_uring_sqe_set_data64(s, 0);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  cancelling_ = true;
}

// One send in flight, from the session's frozen output: it stays put until
// the completion says how much went, whatever the codec appends meanwhile.
void UringConnection::send() {
  if (sending_ || closing_ || stream_->closed() || stream_->owed_bytes() == 0) return;
  const auto owed = stream_->owed();
  io_uring_sqe* s = submission();
  if (!s) return;
  io_uring_prep_send(s, fd_.get(), owed.data(), owed.size(), MSG_NOSIGNAL);
  submitted(s, kSend);
  sending_ = true;
}

// Every reply is sent (wants_fin() needs nothing owed). Counted in flight so
// the socket cannot close, and its number be reused, before the kernel runs it.
void UringConnection::send_fin() {
  io_uring_sqe* s = submission();
  if (!s) return;
  io_uring_prep_shutdown(s, fd_.get(), SHUT_WR);
  submitted(s, kFin);
  stream_->on_fin_sent(ctx_.loop.now());
}

io_uring_sqe* UringConnection::submission() {
  io_uring_sqe* s = ring_.sqe();
  if (!s) {
    fail(EBUSY);
    finish();
  }
  return s;
}

void UringConnection::submitted(io_uring_sqe* sqe, Op op) noexcept {
  io_uring_sqe_set_data64(sqe, UringPoller::tag(this, op));
  ++in_flight_;
}

void UringConnection::finish() noexcept {
  if (closing_) return;
  closing_ = true;
  cancel_timer();
  if (in_flight_ == 0) return close_socket();
  // Every operation ends now (-ECANCELED, or its own result if it was
  // already running); the socket closes when the last one has completed.
  if (io_uring_sqe* s = ring_.sqe()) {
    io_uring_prep_cancel_fd(s, fd_.get(), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(s, 0);
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  } else {
    ::shutdown(fd_.get(), SHUT_RDWR);  // ends them as surely, if less politely
  }
}

void UringConnection::close_socket() noexcept {
  if (!fd_) return;
  fd_.reset();
  report_closed();
}

}  // namespace okq::server
