// Tests of LineCodec: framing, replies, limits and incremental feeding.
#include "okq/proto/line_codec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace okq::proto {
namespace {

using namespace std::string_literals;

struct Result {
  std::string out;
  Verdict verdict = Verdict::Continue;
};

// Feeds `parts` in order, then EOF if `eof`.
Result run(const std::vector<std::string>& parts, bool eof = false, std::size_t max_line = 4096) {
  LineCodec codec(max_line);
  Result r;
  for (const auto& p : parts) r.verdict = codec.feed(p, r.out);
  if (eof) r.verdict = codec.finish(r.out);
  return r;
}

Result run_one(const std::string& input, bool eof = false, std::size_t max_line = 4096) {
  return run({input}, eof, max_line);
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(LineCodec, AnswersOkPerMessageAndEchoesQ) {
  const auto r = run_one("hello\nworld\nQuit\n");
  EXPECT_EQ(r.out, "OK\nOK\nQuit\n");
  EXPECT_EQ(r.verdict, Verdict::Close);
}

TEST(LineCodec, EmptyMessageGetsOk) {
  EXPECT_EQ(run_one("\n\n").out, "OK\nOK\n");
}

TEST(LineCodec, CrBeforeLfIsDropped) {
  EXPECT_EQ(run_one("a\r\n\r\nQx\r\n").out, "OK\nOK\nQx\n");
  // A CR elsewhere is part of the message.
  EXPECT_EQ(run_one("Qa\rb\n").out, "Qa\rb\n");
}

TEST(LineCodec, NulBytesAreDroppedWherever) {
  EXPECT_EQ(run_one("Q\0a\0\0b\n"s).out, "Qab\n");
  EXPECT_EQ(run_one("\0\0\0\n"s).out, "OK\n");
  // The seed client's 20-byte zero-padded frames.
  const std::string frame = "hello\n"s + std::string(14, '\0');
  const std::string quit = "Q\n"s + std::string(18, '\0');
  const auto r = run_one(frame + frame + quit);
  EXPECT_EQ(r.out, "OK\nOK\nQ\n");
  EXPECT_EQ(r.verdict, Verdict::Close);
}

TEST(LineCodec, NulBetweenCrAndLfStillStripsCr) {
  EXPECT_EQ(run_one("Qz\r\0\n"s).out, "Qz\n");
}

TEST(LineCodec, PipelinedBurstGetsEveryReplyInOrder) {
  const auto r = run_one(repeat("m\n", 10000) + "Qend\n");
  EXPECT_EQ(r.out, repeat("OK\n", 10000) + "Qend\n");
}

TEST(LineCodec, QMidBurstDiscardsTheRest) {
  LineCodec codec(4096);
  std::string out;
  EXPECT_EQ(codec.feed("a\nQx\nb\nc\n", out), Verdict::Close);
  EXPECT_EQ(out, "OK\nQx\n");
  EXPECT_EQ(codec.feed("more\n", out), Verdict::Close);
  EXPECT_EQ(codec.finish(out), Verdict::Close);
  EXPECT_EQ(out, "OK\nQx\n");
}

TEST(LineCodec, QOnlyCountsAsFirstByte) {
  EXPECT_EQ(run_one("xQ\n q\n").out, "OK\nOK\n");
}

TEST(LineCodec, LineAtTheLimitIsAccepted) {
  EXPECT_EQ(run_one("12345678\n", false, 8).out, "OK\n");
  EXPECT_EQ(run_one("12345678\r\n", false, 8).out, "OK\n");
  EXPECT_EQ(run_one("1234\0\0\0\0\0\0\0\05678\n"s, false, 8).out, "OK\n");
}

TEST(LineCodec, LineOverTheLimitGetsErrAndCloses) {
  const auto r = run_one("ok\n123456789\nnext\n", false, 8);
  EXPECT_EQ(r.out, "OK\nERR line too long\n");
  EXPECT_EQ(r.verdict, Verdict::Close);
}

TEST(LineCodec, FloodWithoutLfIsCutOffBeforeTheLf) {
  LineCodec codec(8);
  std::string out;
  EXPECT_EQ(codec.feed("12345678", out), Verdict::Continue);
  EXPECT_EQ(codec.feed("\r", out), Verdict::Continue);  // could still be CR LF
  EXPECT_EQ(codec.feed("x", out), Verdict::Close);
  EXPECT_EQ(out, "ERR line too long\n");
}

TEST(LineCodec, OneMebibyteLineIsRefused) {
  const auto r = run_one(std::string(1 << 20, 'a') + "\n");
  EXPECT_EQ(r.out, "ERR line too long\n");
  EXPECT_EQ(r.verdict, Verdict::Close);
}

TEST(LineCodec, UnterminatedFragmentAtEofIsAMessage) {
  EXPECT_EQ(run_one("a\nlast", true).out, "OK\nOK\n");
  EXPECT_EQ(run_one("a\nQlast", true).out, "OK\nQlast\n");
  EXPECT_EQ(run_one("Qlast\r", true).out, "Qlast\n");
}

TEST(LineCodec, NothingOwedAtEofWithoutFragment) {
  EXPECT_EQ(run_one("a\n", true).out, "OK\n");
  EXPECT_EQ(run_one("", true).out, "");
  EXPECT_EQ(run_one("a\n\0\0"s, true).out, "OK\n");  // only padding left
  EXPECT_EQ(run_one("", true).verdict, Verdict::Close);
}

TEST(LineCodec, ObserverSeesEachMessage) {
  LineCodec codec(4096);
  struct Seen final : MessageObserver {
    std::vector<std::string> lines;
    void message(std::string_view m) override { lines.emplace_back(m); }
  } seen;
  codec.set_observer(&seen);
  std::string out;
  codec.feed("one\r\ntw", out);
  codec.feed("\0o\nQ\n"s, out);
  EXPECT_EQ(seen.lines, (std::vector<std::string>{"one", "two", "Q"}));
  EXPECT_EQ(codec.messages(), 3u);
}

// The transcript exercises every rule; any split of it must answer the same.
const std::string kTranscript =
    "hello\r\nwor\0ld\n\n\0\0\0\n12345678\r\nabc\rdef\nQ\0uit\r\nafter\n"s;
const std::string kExpected = "OK\nOK\nOK\nOK\nOK\nOK\nQuit\n";

TEST(LineCodec, SplitAtEveryByteBoundaryGivesTheSameReplies) {
  ASSERT_EQ(run_one(kTranscript, false, 8).out, kExpected);
  for (std::size_t i = 0; i <= kTranscript.size(); ++i) {
    const auto r = run({kTranscript.substr(0, i), kTranscript.substr(i)}, false, 8);
    EXPECT_EQ(r.out, kExpected) << "split at " << i;
    EXPECT_EQ(r.verdict, Verdict::Close) << "split at " << i;
  }
}

TEST(LineCodec, EveryPairOfSplitsGivesTheSameReplies) {
  for (std::size_t i = 0; i <= kTranscript.size(); ++i) {
    for (std::size_t j = i; j <= kTranscript.size(); ++j) {
      const auto r =
          run({kTranscript.substr(0, i), kTranscript.substr(i, j - i), kTranscript.substr(j)},
              false, 8);
      ASSERT_EQ(r.out, kExpected) << "splits at " << i << ", " << j;
    }
  }
}

TEST(LineCodec, ByteByByteGivesTheSameReplies) {
  std::vector<std::string> bytes;
  for (char c : kTranscript) bytes.emplace_back(1, c);
  EXPECT_EQ(run(bytes, false, 8).out, kExpected);
}

TEST(LineCodec, SplitsOfATooLongLineAllRefuseIt) {
  const std::string input = "ok\n123456789\n";
  for (std::size_t i = 0; i <= input.size(); ++i) {
    const auto r = run({input.substr(0, i), input.substr(i)}, true, 8);
    EXPECT_EQ(r.out, "OK\nERR line too long\n") << "split at " << i;
  }
}

}  // namespace
}  // namespace okq::proto
