// codec_bench.cpp -- Google Benchmark microbenchmarks of the two codecs:
// messages/s and bytes/s through feed(), no sockets involved.
#include <benchmark/benchmark.h>

#include <string>

#include "okq/proto/classic_codec.hpp"
#include "okq/proto/line_codec.hpp"

namespace {

using namespace okq::proto;

std::string burst(const std::string& message, std::size_t count) {
  std::string s;
  for (std::size_t i = 0; i < count; ++i) s += message;
  return s;
}

// One read's worth (64 KiB) of pipelined messages, fed in `chunk`-byte pieces.
void BM_LineCodec(benchmark::State& state, std::string message) {
  const std::size_t chunk = static_cast<std::size_t>(state.range(0));
  const std::size_t count = 65536 / message.size();
  const std::string input = burst(message, count);
  LineCodec codec(4096);
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (std::size_t at = 0; at < input.size(); at += chunk)
      codec.feed(std::string_view(input).substr(at, chunk), out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
}
BENCHMARK_CAPTURE(BM_LineCodec, ping, std::string("PING\n"))->Arg(65536)->Arg(4096)->Arg(7);
BENCHMARK_CAPTURE(BM_LineCodec, crlf_100b, std::string(98, 'x') + "\r\n")->Arg(65536)->Arg(7);
BENCHMARK_CAPTURE(BM_LineCodec, seed_frame, std::string("hello\n") + std::string(14, '\0'))
    ->Arg(65536)
    ->Arg(20);

void BM_ClassicCodec(benchmark::State& state) {
  const std::string frame = std::string("hello\n") + std::string(14, '\0');
  ClassicCodec codec(20);
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (int i = 0; i < 1024; ++i) codec.feed(frame, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 1024));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 1024 * frame.size()));
}
BENCHMARK(BM_ClassicCodec);

}  // namespace

BENCHMARK_MAIN();
