#include "config_file.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace okq::server_cli {
namespace {

std::string trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

CLI::ConfigError at_line(int line, const std::string& what) {
  return CLI::ConfigError("line " + std::to_string(line) + ": " + what);
}

// Whether `args` (a command line) gives option `op` by any of its names.
bool given_on(const std::vector<std::string>& args, const CLI::Option& op) {
  return std::any_of(args.begin(), args.end(), [&op](const std::string& arg) {
    if (arg.starts_with("--")) {
      const auto name = arg.substr(2, arg.find('=') - 2);
      const auto& names = op.get_lnames();
      return std::find(names.begin(), names.end(), name) != names.end();
    }
    if (arg.size() < 2 || arg[0] != '-') return false;
    const auto& shorts = op.get_snames();  // -f, -fv, -l ADDR
    return std::any_of(shorts.begin(), shorts.end(),
                       [&arg](const std::string& s) { return arg.find(s[0], 1) == 1; });
  });
}

// `message` names option `name` itself ("--upstream", not "--upstream-timeout").
bool mentions(const std::string& message, const std::string& name) {
  for (auto at = message.find(name); at != std::string::npos; at = message.find(name, at + 1)) {
    const auto end = at + name.size();
    if (end == message.size() ||
        !(std::isalnum(static_cast<unsigned char>(message[end])) || message[end] == '-'))
      return true;
  }
  return false;
}

}  // namespace

std::vector<CLI::ConfigItem> ConfigFile::from_config(std::istream& in) const {
  lines_.clear();
  std::vector<CLI::ConfigItem> found;
  std::map<std::string, std::size_t> index;  // key -> its place in `found`
  std::string raw;
  for (int number = 1; std::getline(in, raw); ++number) {
    const int first = number;
    std::string line = trimmed(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') throw at_line(first, "sections are not used: every key is an option");
    const auto eq = line.find('=');
    if (eq == std::string::npos || trimmed(line.substr(0, eq)).empty())
      throw at_line(first, "'" + line + "' is not key = value");
    // An array that goes on over the next lines, up to its ']'.
    if (trimmed(line.substr(eq + 1)).starts_with('['))
      while (line.back() != ']' && std::getline(in, raw)) {
        ++number;
        line += " " + trimmed(raw);
      }
    std::istringstream one(line);
    for (auto& item : CLI::ConfigBase::from_config(one)) {
      const auto [it, fresh] = index.emplace(item.name, found.size());
      if (fresh) {
        lines_.emplace(item.name, first);
        found.push_back(std::move(item));
      } else {
        const CLI::Option* op = app_.get_option_no_throw("--" + item.name);
        if (op != nullptr && op->get_items_expected_max() <= 1)
          throw at_line(first, item.name + " is set twice (first on line " +
                                   std::to_string(lines_[item.name]) + ")");
        auto& inputs = found[it->second].inputs;
        inputs.insert(inputs.end(), item.inputs.begin(), item.inputs.end());
      }
    }
  }
  return found;
}

std::string ConfigFile::locate(const std::string& message, const std::string& file,
                               const CLI::App& app,
                               const std::vector<std::string>& command_line) const {
  if (file.empty()) return message;
  const std::string unknown = "INI was not able to parse ";
  if (message.starts_with(unknown)) {
    const std::string key = message.substr(unknown.size());
    const auto it = lines_.find(key);
    return file + ":" + (it == lines_.end() ? "" : std::to_string(it->second) + ":") +
           " unknown key '" + key + "' (every key is a long option of okq-server --help)";
  }
  if (message.starts_with("line ")) return file + ":" + message.substr(5);
  if (message == file + " was not readable (missing?)") {
    std::ifstream probe(file);  // CLI11 says no more than that: find out why
    return "cannot read the configuration file " + file + ": " +
           (probe ? "not a regular file" : std::strerror(errno));
  }
  for (const auto& [key, line] : lines_) {
    const CLI::Option* op = app.get_option_no_throw("--" + key);
    if (op == nullptr || given_on(command_line, *op)) continue;
    for (const auto& name : op->get_lnames())
      if (mentions(message, "--" + name)) {
        const std::string prefix = "--" + name + ": ";  // CLI11's own, said once
        std::string located = file;
        located.append(":").append(std::to_string(line)).append(": ").append(key).append(": ");
        located += message.starts_with(prefix) ? message.substr(prefix.size()) : message;
        return located;
      }
  }
  return message;
}

}  // namespace okq::server_cli
