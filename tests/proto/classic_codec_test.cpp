// Tests of ClassicCodec: the seed server's exact bytes.
#include "okq/proto/classic_codec.hpp"

#include <gtest/gtest.h>

namespace okq::proto {
namespace {

using namespace std::string_literals;

TEST(ClassicCodec, AnswersTwoByteOkWithoutNewline) {
  ClassicCodec codec(20);
  std::string out;
  EXPECT_EQ(codec.feed("hello\n", out), Verdict::Continue);
  EXPECT_EQ(out, "OK");
  EXPECT_EQ(out.size(), 2u);
}

TEST(ClassicCodec, EachReadIsOneMessage) {
  ClassicCodec codec(20);
  std::string out;
  codec.feed("a", out);
  codec.feed("b\nc\n", out);  // two lines in one read: still one message
  EXPECT_EQ(out, "OKOK");
  EXPECT_EQ(codec.messages(), 2u);
}

TEST(ClassicCodec, QIsEchoedZeroPaddedToTwentyBytes) {
  ClassicCodec codec(20);
  std::string out;
  EXPECT_EQ(codec.feed("Q\n", out), Verdict::Close);
  EXPECT_EQ(out, "Q\n"s + std::string(18, '\0'));
  EXPECT_EQ(out.size(), 20u);
}

TEST(ClassicCodec, FullSeedFrameIsEchoedAsIs) {
  ClassicCodec codec(20);
  const std::string frame = "Qbye\n"s + std::string(15, '\0');
  std::string out;
  EXPECT_EQ(codec.feed(frame, out), Verdict::Close);
  EXPECT_EQ(out, frame);
}

TEST(ClassicCodec, NothingAfterQ) {
  ClassicCodec codec(20);
  std::string out;
  codec.feed("Q", out);
  EXPECT_EQ(codec.feed("more", out), Verdict::Close);
  EXPECT_EQ(codec.finish(out), Verdict::Close);
  EXPECT_EQ(out, "Q"s + std::string(19, '\0'));
}

TEST(ClassicCodec, LongerBufferIsTakenAsReadsOfN) {
  ClassicCodec codec(4);
  std::string out;
  EXPECT_EQ(codec.feed("abcdefghQrst", out), Verdict::Close);
  EXPECT_EQ(out, "OKOKQrst");
}

TEST(ClassicCodec, ReadLimitIsTheMessageSize) {
  EXPECT_EQ(ClassicCodec(20).read_limit(), 20u);
  EXPECT_EQ(ClassicCodec(7).read_limit(), 7u);
}

TEST(ClassicCodec, EofOwesNothing) {
  ClassicCodec codec(20);
  std::string out;
  EXPECT_EQ(codec.finish(out), Verdict::Close);
  EXPECT_EQ(out, "");
}

TEST(MakeCodec, ChoosesTheFraming) {
  std::string out;
  make_codec({.classic = true})->feed("x", out);
  make_codec({.classic = false})->feed("x\n", out);
  EXPECT_EQ(out, "OKOK\n");
}

}  // namespace
}  // namespace okq::proto
