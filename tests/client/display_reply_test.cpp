// Tests of how okq-client prints a reply.
#include <gtest/gtest.h>

#include "okq/client/client.hpp"

namespace okq::client {
namespace {

using namespace std::string_literals;

TEST(DisplayReply, DropsNulsAndTheTrailingNewline) {
  EXPECT_EQ(display_reply("OK"), "OK");
  EXPECT_EQ(display_reply("Q\n\0\0\0"s), "Q");
  EXPECT_EQ(display_reply("a\0b\r\n"s), "ab");
  EXPECT_EQ(display_reply(""), "");
}

TEST(DisplayReply, OnATerminalControlBytesAreShownNotObeyed) {
  // A hostile server's escape sequence (clear screen, set title) and a bell.
  EXPECT_EQ(display_reply("\x1b[2J\x1b]0;pwned\x07x\tz\x7f\n", true),
            "\\x1b[2J\\x1b]0;pwned\\x07x\tz\\x7f");
  EXPECT_EQ(display_reply("\x1b[2J\n", false), "\x1b[2J");  // piped: bytes as they came
}

TEST(ExitCodes, KeepTheSeedClients) {
  EXPECT_EQ(exit_code_for(net::Call::Socket), 1);
  EXPECT_EQ(exit_code_for(net::Call::Connect), 2);
  EXPECT_EQ(exit_code_for(net::Call::Parse), 3);
  EXPECT_EQ(exit_code_for(net::Call::Resolve), 3);
  EXPECT_EQ(exit_code_for(net::Call::Send), 4);
  EXPECT_EQ(exit_code_for(net::Call::Recv), 5);
}

}  // namespace
}  // namespace okq::client
