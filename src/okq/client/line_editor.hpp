// line_editor.hpp -- LineEditor: okq-client's lines when a person types them
// at a terminal, as redis-cli reads its own: libedit's line editing (emacs
// keys: cursor left and right, Home/End, Ctrl-A/E/K/U/W, Up and Down through
// the history) and a history kept across sessions in a file. libedit (BSD
// licensed) rather than GNU readline (GPL): it puts no condition on okq's own
// licence beyond keeping its notice.
#pragma once

#include <optional>
#include <string>

namespace okq::client {

class LineEditor {
 public:
  // Reads the terminal on standard input, showing `prompt`; the history is
  // read from and written to `history_file` ("": none kept).
  LineEditor(std::string prompt, std::string history_file);
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // The next line (without its LF), once Enter is pressed; nullopt for
  // Ctrl-D on an empty line (the end of input). Blocks: at a terminal the
  // conversation is in lockstep, so nothing is owed while a person types.
  std::optional<std::string> read_line();

 private:
  void save_history() const;

  std::string prompt_;
  std::string history_file_;
};

// Where the history goes: $OKQ_HISTFILE if set ("" to keep none), else
// $HOME/.okq_history (like ~/.rediscli_history); "" without a HOME.
std::string default_history_file();

}  // namespace okq::client
