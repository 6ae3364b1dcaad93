// Command-line reading shared by the bench tools: "--name value", "--name=value", flags,
// and everything after "--" as a command. Usage mistakes throw UsageError; each tool's
// main prints it with its usage text and exits 2.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iotd::bench {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}

  bool done() const { return pos_ >= args_.size(); }
  const std::string& peek() const { return args_.at(pos_); }

  // The current argument is `name`: consumes it and returns true.
  bool flag(std::string_view name);
  // The current argument is `name value` or `name=value`: consumes them, returns the value.
  std::optional<std::string> value(std::string_view name);
  // The current argument is "--": consumes it and everything after it.
  std::optional<std::vector<std::string>> command();

 private:
  std::vector<std::string> args_;
  std::size_t pos_ = 0;
};

// Numbers from option values; UsageError naming the option when malformed or out of range.
double to_double(const std::string& text, std::string_view option, double min, double max);
long long to_integer(const std::string& text, std::string_view option, long long min, long long max);

}  // namespace iotd::bench
