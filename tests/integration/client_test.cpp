// Integration: okq-client and okq-server talking over loopback, as a user would.
#include <gtest/gtest.h>

#include <thread>

#include <memory>

#include <unistd.h>

#include "../support/okq.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

TEST(Client, InteractiveLikeTheReadme) {
  TestServer server;
  Process client({client_bin(), server.address()});
  client.write_stdin("hello\n");
  ASSERT_TRUE(client.wait_stdout("Server: OK\n")) << client.err();
  client.write_stdin("Q\n");
  EXPECT_EQ(client.wait(), 0) << client.err();
  EXPECT_EQ(client.out(), "Server: OK\nServer: Q\n");
}

TEST(Client, PipedInputEndsAtQAndIgnoresTheRest) {
  TestServer server;
  Process client({client_bin(), server.address()});
  client.write_stdin("one\n\ntwo\r\nQuit now\nnever sent\n");
  client.close_stdin();
  EXPECT_EQ(client.wait(), 0) << client.err();
  EXPECT_EQ(client.out(), "Server: OK\nServer: OK\nServer: OK\nServer: Quit now\n");
}

TEST(Client, EndOfInputWithoutQGetsEveryReplyAndExitsZero) {
  TestServer server;
  Process client({client_bin(), "--pipeline", "8", server.address()});
  client.write_stdin(repeat("m\n", 500) + "unterminated");
  client.close_stdin();
  EXPECT_EQ(client.wait(), 0) << client.err();
  EXPECT_EQ(client.out(), repeat("Server: OK\n", 501));
}

TEST(Client, HundredClientsThousandMessagesEachAllRepliesInOrder) {
  TestServer server;
  constexpr int kClients = 100, kMessages = 1000;
  std::vector<std::unique_ptr<Process>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<Process>(std::vector<std::string>{
        client_bin(), "--pipeline", "16", "--timeout", "30", server.address()}));
  }
  // Each client's last message is its own Q line: the echo proves the replies
  // came back on the right connection and after all the OKs, in order.
  for (int c = 0; c < kClients; ++c) {
    std::string input;
    for (int m = 0; m < kMessages - 1; ++m)
      input += "client " + std::to_string(c) + " msg " + std::to_string(m) + "\n";
    input += "Q from client " + std::to_string(c) + "\n";
    clients[c]->write_stdin(input);
    clients[c]->close_stdin();
  }
  for (int c = 0; c < kClients; ++c) {
    ASSERT_EQ(clients[c]->wait(60s), 0) << "client " << c << ": " << clients[c]->err();
    EXPECT_EQ(clients[c]->out(), repeat("Server: OK\n", kMessages - 1) + "Server: Q from client " +
                                     std::to_string(c) + "\n")
        << "client " << c;
  }
}

TEST(Client, ClassicClientAgainstClassicServer) {
  TestServer server({"--classic"});
  Process client({client_bin(), "--classic", server.address()});
  client.write_stdin("hello\n");
  ASSERT_TRUE(client.wait_stdout("Server: OK\n")) << client.err();
  client.write_stdin("Qbye\n");
  EXPECT_EQ(client.wait(), 0) << client.err();
  EXPECT_EQ(client.out(), "Server: OK\nServer: Qbye\n");
}

TEST(Client, ClassicClientAgainstDefaultServer) {
  // The default server drops NUL padding, so the seed's frames work against it.
  TestServer server;
  Process client({client_bin(), "--classic", server.address()});
  client.write_stdin("hello\n");
  ASSERT_TRUE(client.wait_stdout("Server: OK\n")) << client.err();
  client.write_stdin("Q\n");
  EXPECT_EQ(client.wait(), 0) << client.err();
  EXPECT_EQ(client.out(), "Server: OK\nServer: Q\n");
}

TEST(Client, ClientOverUnixSocket) {
  const std::string path =
      ::testing::TempDir() + "okq-session-" + std::to_string(::getpid()) + ".sock";
  TestServer server({"--listen", "unix:" + path}, true);
  Process client({client_bin(), "unix:" + path});
  client.write_stdin("a\nQ\n");
  EXPECT_EQ(client.wait(), 0) << client.err();
  EXPECT_EQ(client.out(), "Server: OK\nServer: Q\n");
}

TEST(Client, ServerClosingBeforeQIsAReceiveError) {
  TestServer server({"--max-line", "4"});
  Process client({client_bin(), server.address()});
  client.write_stdin("toolong\n");
  EXPECT_EQ(client.wait(), 5);
  EXPECT_EQ(client.out(), "Server: ERR line too long\n");
  EXPECT_NE(client.err().find("okq-client: cannot receive from 127.0.0.1:"), std::string::npos)
      << client.err();
}

TEST(Client, ReplyTimeoutIsAReceiveError) {
  // A listener that never answers: a plain socket of the test's own.
  RawListener silent;
  Process client({client_bin(), "--timeout", "0.3", "127.0.0.1:" + std::to_string(silent.port())});
  client.write_stdin("hello\n");
  EXPECT_EQ(client.wait(), 5);
  EXPECT_NE(client.err().find("timed out waiting for a reply"), std::string::npos) << client.err();
}

// A hostile server's endless reply is bounded by --max-line: exit 5 with the
// reason, long before memory runs out.
TEST(Client, EndlessReplyIsRefusedAsTooLong) {
  RawListener fake;
  Process client({client_bin(), "--max-line", "1000", "127.0.0.1:" + std::to_string(fake.port())});
  client.write_stdin("a\nb\n");
  RawClient conn = fake.accept();
  ASSERT_EQ(conn.read_exact(2), "a\n");  // a reply before its message would be unsolicited
  conn.send("OK\n");
  for (int i = 0; i < 64 && !conn.peer_closed(); ++i) {
    if (conn.send_nonblocking(std::string(64 * 1024, 'x')) <= 0) std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(client.wait(), 5);
  EXPECT_EQ(client.out(), "Server: OK\n");
  EXPECT_NE(client.err().find("reply too long (over 1000 bytes; --max-line)"), std::string::npos)
      << client.err();
}

// An input line longer than --max-line is not sent (the server would refuse
// it): what came before it is answered and printed, then exit 4 naming the
// line. An endless one (/dev/zero) is refused as soon as it passes the limit.
TEST(Client, AnInputLineLongerThanMaxLineIsNotSent) {
  TestServer server({"--trace"});
  Process client({client_bin(), "--pipeline", "4", server.address()});
  client.write_stdin("a\nb\n" + std::string(5000, 'x') + "\nc\n");
  client.close_stdin();
  EXPECT_EQ(client.wait(), 4);
  EXPECT_EQ(client.out(), "Server: OK\nServer: OK\n");
  EXPECT_NE(client.err().find("input line 3 is longer than --max-line (4096 bytes)"),
            std::string::npos)
      << client.err();
  Process endless(
      {"/bin/sh", "-c", "exec \"$0\" \"$@\" < /dev/zero", client_bin(), server.address()});
  EXPECT_EQ(endless.wait(10s), 4) << "an endless line was buffered";
  EXPECT_NE(endless.err().find("input line 1 is longer than --max-line"), std::string::npos)
      << endless.err();
}

// More replies than messages: the server is not speaking okq (or a relay
// lost count). The replies are shown, then exit 5.
TEST(Client, AReplyToNoMessageIsAReceiveError) {
  RawListener fake;
  Process client({client_bin(), "127.0.0.1:" + std::to_string(fake.port())});
  client.write_stdin("one\n");
  RawClient conn = fake.accept();
  EXPECT_EQ(conn.read_exact(4), "one\n");
  conn.send("OK\nOK\nOK\n");
  EXPECT_EQ(client.wait(), 5);
  EXPECT_EQ(client.out(), "Server: OK\nServer: OK\n");
  EXPECT_NE(client.err().find("a reply to no message"), std::string::npos) << client.err();
}

// Replies that cannot be written out are lost to the user: not a success.
TEST(Client, AFailedWriteToStdoutIsAnError) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  TestServer server;
  Process client({"/bin/sh", "-c", "printf 'a\\nQ\\n' | exec \"$0\" \"$@\" > /dev/full",
                  client_bin(), server.address()});
  EXPECT_EQ(client.wait(), 74);
  EXPECT_NE(client.err().find("cannot write the replies: No space left on device"),
            std::string::npos)
      << client.err();
}

// With stdin closed, the client's socket must not become descriptor 0 and be
// read as input.
TEST(Client, ClientStartedWithStdinClosedSendsNothing) {
  TestServer server({"--trace"});
  Process client({"/bin/sh", "-c", "exec \"$0\" \"$1\" <&-", client_bin(), server.address()});
  EXPECT_EQ(client.wait(5s), 0) << client.err();
  EXPECT_EQ(client.out(), "");
  EXPECT_TRUE(server.process().wait_stderr("closed: client closed")) << server.process().err();
  EXPECT_NE(server.process().err().find("closed: client closed; 0 messages"), std::string::npos)
      << server.process().err();
}

// After end of input every reply has come, but the server never closes:
// --timeout bounds that wait too.
TEST(Client, WaitForTheServerToCloseAfterEndOfInputIsBounded) {
  RawListener fake;
  Process client({client_bin(), "--timeout", "0.5", "127.0.0.1:" + std::to_string(fake.port())});
  client.write_stdin("a\n");
  client.close_stdin();
  RawClient conn = fake.accept();
  EXPECT_EQ(conn.read_exact(2), "a\n");
  conn.send("OK\n");
  EXPECT_EQ(client.wait(5s), 5) << "the client waited for ever";
  EXPECT_EQ(client.out(), "Server: OK\n");
  EXPECT_NE(client.err().find("timed out waiting for the server to close"), std::string::npos)
      << client.err();
}

// Timeouts below a millisecond are not "no limit".
TEST(Client, SubMillisecondTimeoutIsStillATimeout) {
  RawListener silent;
  Process client(
      {client_bin(), "--timeout", "0.0004", "127.0.0.1:" + std::to_string(silent.port())});
  client.write_stdin("hello\n");
  EXPECT_EQ(client.wait(5s), 5) << "--timeout 0.0004 meant no limit";
  EXPECT_NE(client.err().find("timed out waiting for a reply"), std::string::npos) << client.err();
}

}  // namespace
}  // namespace okq::test
