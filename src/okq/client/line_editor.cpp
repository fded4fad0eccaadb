#include "okq/client/line_editor.hpp"

#include <editline/readline.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace okq::client {
namespace {

constexpr int kHistoryLines = 1000;

}  // namespace

LineEditor::LineEditor(std::string prompt, std::string history_file)
    : prompt_(std::move(prompt)), history_file_(std::move(history_file)) {
  rl_readline_name = "okq-client";  // the name ~/.editrc settings can be given under
  rl_initialize();                  // libedit's readline keys: Ctrl-U and Ctrl-W as in a shell
  using_history();
  stifle_history(kHistoryLines);
  if (!history_file_.empty()) read_history(history_file_.c_str());  // none yet is fine
}

LineEditor::~LineEditor() {
  save_history();
}

std::optional<std::string> LineEditor::read_line() {
  char* line = readline(prompt_.c_str());
  if (line == nullptr) return std::nullopt;
  std::string text(line);
  std::free(line);  // readline's own allocation
  if (!text.empty()) {
    add_history(text.c_str());
    save_history();  // now: a session ended by Ctrl-C keeps its lines
  }
  return text;
}

// The history file holds what was typed, passwords included: the user's alone.
void LineEditor::save_history() const {
  if (history_file_.empty()) return;
  const int fd = ::open(history_file_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;  // no history is no reason to stop talking to the server
  ::fchmod(fd, 0600);
  ::close(fd);
  write_history(history_file_.c_str());
}

std::string default_history_file() {
  if (const char* file = std::getenv("OKQ_HISTFILE")) return file;
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return "";
  return std::string(home) + "/.okq_history";
}

}  // namespace okq::client
