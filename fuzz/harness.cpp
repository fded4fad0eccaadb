// harness.cpp -- properties of LineCodec and ClassicCodec under any input.
#include "harness.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "okq/proto/classic_codec.hpp"
#include "okq/proto/line_codec.hpp"
#include "okq/proto/proxy_header.hpp"

namespace okq::fuzz {
namespace {

using proto::Verdict;

[[noreturn]] void fail(const char* what, const std::string& a, const std::string& b) {
  std::fprintf(stderr, "fuzz property broken: %s\n  got:  %zu bytes\n  want: %zu bytes\n", what,
               a.size(), b.size());
  std::abort();
}

std::string run_line(std::size_t max_line, std::string_view in, std::uint32_t split_seed) {
  proto::LineCodec codec(max_line);
  std::string out;
  Verdict v = Verdict::Continue;
  std::uint32_t state = split_seed * 2654435761u + 1;
  while (!in.empty() && v == Verdict::Continue) {
    std::size_t n = in.size();
    if (split_seed != 0) {  // seed 0: one feed
      state = state * 1103515245u + 12345u;
      n = 1 + (state >> 16) % std::min<std::size_t>(in.size(), 97);
    }
    v = codec.feed(in.substr(0, n), out);
    in.remove_prefix(n);
  }
  if (v == Verdict::Continue) codec.finish(out);
  return out;
}

}  // namespace

std::string line_model(std::size_t max_line, std::string_view in) {
  std::string clean;
  for (char c : in)
    if (c != '\0') clean += c;
  std::string out;
  std::size_t at = 0;
  for (;;) {
    const std::size_t lf = clean.find('\n', at);
    if (lf == std::string::npos && at >= clean.size()) return out;  // nothing left
    std::string message = clean.substr(at, lf == std::string::npos ? std::string::npos : lf - at);
    if (!message.empty() && message.back() == '\r') message.pop_back();
    if (message.size() > max_line) return out + "ERR line too long\n";
    if (!message.empty() && message[0] == 'Q') return out + message + "\n";
    out += "OK\n";
    if (lf == std::string::npos) return out;  // the unterminated last fragment
    at = lf + 1;
  }
}

void line_codec(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return;
  const std::size_t max_line = 1 + data[0] % 128;
  const std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::string whole = run_line(max_line, in, 0);
  const std::string split = run_line(max_line, in, data[1] | 0x100u);
  if (split != whole) fail("split feeding differs from one feed", split, whole);
  const std::string model = line_model(max_line, in);
  if (whole != model) fail("codec differs from the reference model", whole, model);
}

void classic_codec(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return;
  const std::size_t n = 1 + data[0] % 32;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  proto::ClassicCodec whole(n), reads(n);
  std::string a, b;
  whole.feed(in, a);
  for (std::string_view rest = in; !rest.empty(); rest.remove_prefix(std::min(n, rest.size())))
    if (reads.feed(rest.substr(0, n), b) == Verdict::Close) break;
  if (a != b) fail("one feed differs from size-byte reads", a, b);
  std::string_view out = a;
  while (out.starts_with("OK")) out.remove_prefix(2);
  if (!out.empty() && (out.size() != n || out[0] != 'Q')) fail("malformed classic reply", a, b);
}

namespace {

// Reads `in` as a socket reader would: at most wanted() bytes, at most `cap`
// at a time (0: no cap), until the parser decides or the input runs out.
proto::ProxyHeaderParser read_header(std::string_view in, std::size_t cap) {
  proto::ProxyHeaderParser p;
  while (p.status() == proto::ProxyHeaderParser::Status::NeedMore && !in.empty()) {
    std::size_t n = std::min(p.wanted(), in.size());
    if (cap) n = std::min(n, cap);
    p.feed(in.substr(0, n));
    in.remove_prefix(n);
  }
  return p;
}

// The verdict, and for a header the length and what it says. How far a
// reader got before finding a header invalid depends on its reads.
std::string summary(const proto::ProxyHeaderParser& p) {
  const bool done = p.status() == proto::ProxyHeaderParser::Status::Done;
  return std::to_string(static_cast<int>(p.status())) + " " +
         (done ? std::to_string(p.consumed()) : "") + " " + std::to_string(p.header().version) +
         " " + (p.header().local ? "local " : "") + p.header().source + " " +
         p.header().destination;
}

}  // namespace

void proxy_header(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return;
  const std::size_t cap = 1 + data[0] % 32;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto whole = read_header(in, 0);
  const std::string expected = summary(whole);
  for (const std::size_t c : {cap, std::size_t{1}})
    if (summary(read_header(in, c)) != expected)
      fail("a split read differs from whole reads", summary(read_header(in, c)), expected);
  if (whole.consumed() > in.size()) fail("consumed more than there was", expected, "");
  if (whole.status() == proto::ProxyHeaderParser::Status::Done) {
    const auto& h = whole.header();
    if (h.version == 1 && whole.consumed() > proto::ProxyHeaderParser::kMaxV1)
      fail("a v1 header longer than 107 bytes", expected, "");
    if (!h.local && (h.source.empty() || h.destination.empty()))
      fail("a proxied header without addresses", expected, "");
  }
  if (whole.status() == proto::ProxyHeaderParser::Status::NeedMore) {
    proto::ProxyHeaderParser again = read_header(in, 0);
    const std::string more(again.wanted() + 1, 'x');
    if (again.feed(more) != proto::ProxyHeaderParser::Status::Invalid)
      fail("a feed past wanted() was taken", expected, "");
  }
}

}  // namespace okq::fuzz

#ifdef OKQ_LIBFUZZER_LINE
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  okq::fuzz::line_codec(data, size);
  return 0;
}
#endif
#ifdef OKQ_LIBFUZZER_CLASSIC
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  okq::fuzz::classic_codec(data, size);
  return 0;
}
#endif
#ifdef OKQ_LIBFUZZER_PROXY
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  okq::fuzz::proxy_header(data, size);
  return 0;
}
#endif
