// config_file.hpp -- okq-server --config FILE: CLI11's own format, read a
// line at a time so that every mistake names its line. One `key = value` a
// line, every long option a key (`listen = "127.0.0.1:4242"`,
// `idle-timeout = 30`, `verbose = true`), a repeatable option as an array
// (`listen = ["127.0.0.1:1", "[::1]:1"]`, which may span lines) or on
// several lines, `#` comments. No sections: okq-server has no subcommands.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

namespace okq::server_cli {

class ConfigFile final : public CLI::ConfigBase {
 public:
  // The options the keys are: a key that takes one value may be set once.
  explicit ConfigFile(const CLI::App& app) : app_(app) {}

  // The file's items, each key once (the values of a key on several lines
  // together, in order). Throws CLI::ConfigError("line N: ...") for a line
  // that is not `key = value`, and for a key of one value set twice.
  std::vector<CLI::ConfigItem> from_config(std::istream& in) const override;

  // `message`, thrown while parsing the command line and `file`, as the
  // file's mistake when it is one ("FILE:LINE: KEY: reason"), else as it
  // is. `command_line` says which options the command line gave: theirs are
  // its mistakes, never the file's.
  std::string locate(const std::string& message, const std::string& file, const CLI::App& app,
                     const std::vector<std::string>& command_line) const;

 private:
  const CLI::App& app_;
  mutable std::map<std::string, int> lines_;  // key -> the first line that sets it
};

}  // namespace okq::server_cli
