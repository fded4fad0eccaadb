// harness.hpp -- the codec fuzz properties, as plain functions so the same
// code runs under libFuzzer (make fuzz) and over the saved corpus in the unit
// tests (make test). A broken property aborts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace okq::fuzz {

// Input: byte 0 picks --max-line (1..128), byte 1 seeds the split points, the
// rest is the stream. Checks: any split of the stream gives the replies of one
// feed; those replies equal a naive reference model's; replies are well formed.
void line_codec(const std::uint8_t* data, std::size_t size);

// Input: byte 0 picks the classic size (1..32), the rest is the stream. Checks:
// one feed equals size-byte reads, and the replies are "OK"s then at most one
// zero-padded echo of exactly `size` bytes starting with Q.
void classic_codec(const std::uint8_t* data, std::size_t size);

// Input: byte 0 caps each read (1..32 bytes), the rest is the stream. Reading
// as a socket reader would (at most wanted() each time) with that cap, one
// byte at a time and with no cap gives the same verdict, header and length;
// a header is never read past; a feed longer than wanted() is refused.
void proxy_header(const std::uint8_t* data, std::size_t size);

// The line protocol as docs/protocol.md states it, written the slow obvious
// way, independent of proto::LineCodec: the replies a server owes for `in`
// from a client that then half-closes. The oracle of the fuzzer and of the
// end-to-end random-bytes test.
std::string line_model(std::size_t max_line, std::string_view in);

}  // namespace okq::fuzz
