#include "iotd/core/log.hpp"

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <ctime>

namespace iotd::log {
namespace {

thread_local std::string_view t_module = kDefaultModule;
thread_local std::string_view t_device_id;

void append(spdlog::memory_buf_t& dest, std::string_view s) { dest.append(s.data(), s.data() + s.size()); }

// IOTD_LOG_LEVEL's names, so a filter on the JSON matches the setting's values.
std::string_view level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

// 2026-12-07T00:01:02.345Z
void append_time(spdlog::memory_buf_t& dest, spdlog::log_clock::time_point tp) {
  const auto since = tp.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
  const std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  fmt::format_to(std::back_inserter(dest), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

// Length of the well-formed UTF-8 sequence at s[i], or 0 (RFC 3629: no overlongs, no
// surrogates, nothing past U+10FFFF).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

// The inside of a JSON string: quotes, backslashes and controls escaped; invalid UTF-8 as
// U+FFFD, so the line always parses.
void append_json_string(spdlog::memory_buf_t& dest, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_length(s, i);
      if (n == 0) {
        append(dest, "\\ufffd");
        ++i;
      } else {
        append(dest, s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': append(dest, "\\\""); break;
      case '\\': append(dest, "\\\\"); break;
      case '\n': append(dest, "\\n"); break;
      case '\r': append(dest, "\\r"); break;
      case '\t': append(dest, "\\t"); break;
      default:
        if (c < 0x20 || c == 0x7F) {
          const char esc[] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xF], kHex[c & 0xF]};
          dest.append(esc, esc + sizeof esc);
        } else {
          dest.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append(dest, R"({"ts":")");
    append_time(dest, msg.time);
    append(dest, R"(","level":")");
    append(dest, level_name(msg.level));
    append(dest, R"(","module":")");
    append_json_string(dest, t_module);
    append(dest, R"(","msg":")");
    append_json_string(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    append(dest, "\"");
    if (!t_device_id.empty()) {
      append(dest, R"(,"device_id":")");
      append_json_string(dest, t_device_id);
      append(dest, "\"");
    }
    fmt::format_to(std::back_inserter(dest), R"(,"thread":{}}})", msg.thread_id);
    append(dest, "\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

class TextFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append_time(dest, msg.time);
    dest.push_back(' ');
    // The colour sink colours [color_range_start, color_range_end): the level name.
    msg.color_range_start = dest.size();
    const auto level = level_name(msg.level);
    append(dest, level);
    msg.color_range_end = dest.size();
    for (std::size_t n = level.size(); n < 5; ++n) dest.push_back(' ');
    append(dest, " [");
    append(dest, t_module);
    append(dest, "] ");
    append(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    if (!t_device_id.empty()) {
      append(dest, " device_id=");
      append(dest, t_device_id);
    }
    append(dest, "\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<TextFormatter>(); }
};

}  // namespace

ModuleScope::ModuleScope(std::string_view module) noexcept : previous_(t_module) { t_module = module; }
ModuleScope::~ModuleScope() { t_module = previous_; }

DeviceScope::DeviceScope(std::string_view device_id) noexcept : previous_(t_device_id) {
  t_device_id = device_id;
}
DeviceScope::~DeviceScope() { t_device_id = previous_; }

std::string_view current_module() noexcept { return t_module; }
std::string_view current_device_id() noexcept { return t_device_id; }

std::unique_ptr<spdlog::formatter> json_formatter() { return std::make_unique<JsonFormatter>(); }
std::unique_ptr<spdlog::formatter> text_formatter() { return std::make_unique<TextFormatter>(); }

}  // namespace iotd::log
