// Integration: okq-client at a real terminal (a tmux pane on a tmux server of
// the test's own): lines edited with the cursor keys, Home/End and
// Ctrl-A/E/K/U/W, recalled with Up from the history of an earlier session,
// Ctrl-D ending the input (exit 0) and Ctrl-C exiting 130 with the terminal
// given back as it was. What the server received is read from its --trace log.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "../support/okq.hpp"

namespace okq::test {
namespace {

// A tmux server of our own (its socket in a private directory), one pane
// running `command`, killed when done.
class Terminal {
 public:
  // A socket of its own each time: a server still exiting after the last
  // one's kill-server would take the new session and go down with it.
  Terminal(const std::string& dir, const std::string& command)
      : socket_(dir + "/tmux-" + std::to_string(++made_)) {
    Process start({"/usr/bin/tmux", "-S", socket_, "-f", "/dev/null", "new-session", "-d", "-x",
                   "120", "-y", "30", command});
    const auto code = start.wait(10s, /*collect_output=*/false);  // its server keeps the pipes
    started_ = code == 0;
    if (!started_)
      why_ = "tmux new-session: " + std::to_string(code.value_or(-1)) + " " + start.err();
  }
  ~Terminal() { Process({"/usr/bin/tmux", "-S", socket_, "kill-server"}).wait(); }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  bool started() const { return started_; }
  const std::string& why() const { return why_; }
  void keys(const std::vector<std::string>& keys) {
    std::vector<std::string> argv{"/usr/bin/tmux", "-S", socket_, "send-keys", "-t", "0"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    Process send(argv);
    EXPECT_EQ(send.wait(), 0) << send.err();
  }
  // Typed text, not key names.
  void type(const std::string& text) { keys({"-l", text}); }
  std::string screen() {
    Process capture({"/usr/bin/tmux", "-S", socket_, "capture-pane", "-p", "-t", "0"});
    capture.wait();
    return capture.out();
  }
  // Waits (bounded) until the screen shows `needle` `times` times.
  bool shows(const std::string& needle, std::size_t times = 1) {
    for (int i = 0; i < 500; ++i) {
      if (occurrences(screen(), needle) >= times) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  static inline int made_ = 0;
  std::string socket_;
  bool started_ = false;
  std::string why_;
};

// The client at the terminal, then its exit code and the terminal's modes
// into `dir`/result. bash's own INT handler lets it live on past the
// client's Ctrl-C to say so (an ignored INT would be the client's too).
std::string client_session(const std::string& dir, const std::string& address) {
  const std::string script = dir + "/session.sh";
  write_file(script, "trap true INT\nOKQ_HISTFILE=" + dir + "/history " + client_bin() + " " +
                         address + " 2>>" + dir + "/client.err\necho \"exit $?\" > " + dir +
                         "/result.tmp\n" +
                         "stty -a | grep -o -e ' icanon' -e ' echo ' | tr -d '\\n' >> " + dir +
                         "/result.tmp\nmv " + dir + "/result.tmp " + dir + "/result\nsleep 60\n");
  ::unlink((dir + "/result").c_str());
  return "/bin/bash " + script;
}

std::string result_of(const std::string& dir) {
  for (int i = 0; i < 500 && ::access((dir + "/result").c_str(), F_OK) != 0; ++i)
    std::this_thread::sleep_for(10ms);
  return read_file(dir + "/result");
}

TEST(Terminal, LinesAreEditedRecalledFromHistoryAndEndedByCtrlDAndCtrlC) {
  if (::access("/usr/bin/tmux", X_OK) != 0) GTEST_SKIP() << "tmux is not installed";
  TestServer server({"--trace"});
  auto& log = server.process();
  const std::string dir = private_dir("terminal");
  const std::string prompt = server.address() + ">";  // (the screen drops its trailing space)
  {
    Terminal term(dir, client_session(dir, server.address()));
    ASSERT_TRUE(term.started()) << term.why();
    ASSERT_TRUE(term.shows(prompt)) << term.screen();
    // Left, Right, Home, End: "helo wrld" made "hello world!".
    term.type("helo wrld");
    term.keys({"Left", "Left", "Left"});
    term.type("o");
    term.keys({"Home", "Right", "Right", "Right"});
    term.type("l");
    term.keys({"End"});
    term.type("!");
    term.keys({"Enter"});
    ASSERT_TRUE(log.wait_stderr("message \"hello world!\"")) << term.screen() << log.err();
    // Each line is typed at its prompt, in libedit's hands: typed earlier, in
    // the terminal's cooked mode, the kernel itself would apply Ctrl-U and Ctrl-W.
    ASSERT_TRUE(term.shows(prompt, 2)) << term.screen();
    term.type("abc def");  // Ctrl-W: the word before the cursor
    term.keys({"C-w"});
    term.type("ghi");
    term.keys({"Enter"});
    ASSERT_TRUE(log.wait_stderr("message \"abc ghi\"")) << term.screen();
    ASSERT_TRUE(term.shows(prompt, 3)) << term.screen();
    term.type("zzz");  // Ctrl-A, Ctrl-E: the start and the end of the line
    term.keys({"C-a"});
    term.type("yy");
    term.keys({"C-e"});
    term.type("x");
    term.keys({"Enter"});
    ASSERT_TRUE(log.wait_stderr("message \"yyzzzx\"")) << term.screen();
    ASSERT_TRUE(term.shows(prompt, 4)) << term.screen();
    term.type("drop this");  // Ctrl-K: from the cursor to the end
    term.keys({"C-a", "C-k"});
    term.type("kept");
    term.keys({"Enter"});
    ASSERT_TRUE(log.wait_stderr("message \"kept\"")) << term.screen();
    ASSERT_TRUE(term.shows(prompt, 5)) << term.screen();
    term.type("junk");  // Ctrl-U: the whole line before the cursor
    term.keys({"C-u"});
    term.type("after");
    term.keys({"Enter"});
    ASSERT_TRUE(log.wait_stderr("message \"after\"")) << term.screen();
    ASSERT_TRUE(term.shows(prompt, 6)) << term.screen();
    term.keys({"Up", "Up", "Up", "Enter"});  // "yyzzzx" again
    ASSERT_TRUE(term.shows(prompt, 7)) << term.screen();
    term.keys({"C-d"});
    EXPECT_EQ(result_of(dir), "exit 0\n icanon echo ") << term.screen();
  }
  EXPECT_EQ(occurrences(log.err(), "message \"yyzzzx\""), 2u) << log.err();
  EXPECT_EQ(occurrences(log.err(), "message \"drop this\""), 0u) << log.err();
  EXPECT_EQ(occurrences(log.err(), "junk"), 0u) << log.err();
  {
    // A new session recalls the last one's lines; Ctrl-C ends it, 130.
    Terminal term(dir, client_session(dir, server.address()));
    ASSERT_TRUE(term.started()) << term.why();
    ASSERT_TRUE(term.shows(prompt)) << term.screen();
    term.keys({"Up", "Up", "Enter"});
    ASSERT_TRUE(term.shows(prompt, 2)) << term.screen();
    EXPECT_EQ(occurrences(log.err(), "message \"after\""), 2u) << log.err();
    term.type("never sent");
    term.keys({"C-c"});
    EXPECT_EQ(result_of(dir), "exit 130\n icanon echo ") << term.screen();
  }
  EXPECT_EQ(occurrences(log.err(), "never sent"), 0u) << log.err();
  EXPECT_EQ(sanitizer_report(read_file(dir + "/client.err")), "");
  EXPECT_EQ(read_file(dir + "/client.err"), "");
  const std::string history = read_file(dir + "/history");
  EXPECT_NE(history.find("hello\\040world!"), std::string::npos) << history;
}

}  // namespace
}  // namespace okq::test
