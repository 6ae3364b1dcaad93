#include "lib/args.hpp"

#include <charconv>
#include <cmath>

namespace iotd::bench {

bool Args::flag(std::string_view name) {
  if (done() || peek() != name) return false;
  ++pos_;
  return true;
}

std::optional<std::string> Args::value(std::string_view name) {
  if (done()) return std::nullopt;
  const std::string& arg = peek();
  if (arg == name) {
    if (pos_ + 1 >= args_.size()) throw UsageError(std::string(name) + " needs a value");
    pos_ += 2;
    return args_[pos_ - 1];
  }
  if (arg.size() > name.size() && arg.compare(0, name.size(), name) == 0 && arg[name.size()] == '=') {
    ++pos_;
    return arg.substr(name.size() + 1);
  }
  return std::nullopt;
}

std::optional<std::vector<std::string>> Args::command() {
  if (done() || peek() != "--") return std::nullopt;
  std::vector<std::string> rest(args_.begin() + static_cast<std::ptrdiff_t>(pos_) + 1, args_.end());
  pos_ = args_.size();
  return rest;
}

double to_double(const std::string& text, std::string_view option, double min, double max) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v < min || v > max)
    throw UsageError(std::string(option) + ": expected a number in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "], got '" + text + "'");
  return v;
}

long long to_integer(const std::string& text, std::string_view option, long long min, long long max) {
  long long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
    throw UsageError(std::string(option) + ": expected an integer in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "], got '" + text + "'");
  return v;
}

}  // namespace iotd::bench
