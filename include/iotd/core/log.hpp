// Log context (docs/architecture.md §18): which part of iotd a log line comes from (`module`)
// and, around per-message work, which device it concerns (`device_id`). Both are thread-locals
// that a thread sets with an RAII scope; the line formatters below read them, so call sites
// keep calling spdlog::info(...) unchanged. spdlog 1.10 (Debian 12) has no MDC; this is the
// small part of one iotd needs. Thread-safe: each thread sees only its own context.
#pragma once

#include <memory>
#include <string_view>

namespace spdlog {
class formatter;
}

namespace iotd::log {

// The module of a thread that set none (main, and threads iotd does not own).
inline constexpr std::string_view kDefaultModule = "main";

// Names the calling thread's module until the scope ends, then restores the previous name.
// `module` must outlive the scope (a string literal in practice).
class ModuleScope {
 public:
  explicit ModuleScope(std::string_view module) noexcept;
  ~ModuleScope();
  ModuleScope(const ModuleScope&) = delete;
  ModuleScope& operator=(const ModuleScope&) = delete;

 private:
  std::string_view previous_;
};

// The device the calling thread's log lines concern until the scope ends ("" = none). The
// string must outlive the scope: set it around the work on one message.
class DeviceScope {
 public:
  explicit DeviceScope(std::string_view device_id) noexcept;
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  std::string_view previous_;
};

std::string_view current_module() noexcept;     // kDefaultModule when none is set
std::string_view current_device_id() noexcept;  // "" when none is set

// One JSON object per line, fields in this order (README "Logs"):
//   {"ts":"2026-12-07T00:01:02.345Z","level":"info","module":"writer","msg":"...",
//    "device_id":"dev-1","thread":1234}
// device_id only when a DeviceScope is active. Levels: trace, debug, info, warn, error,
// critical. Strings are escaped per RFC 8259; bytes that are not UTF-8 become U+FFFD, so
// every line parses.
std::unique_ptr<spdlog::formatter> json_formatter();
// "2026-12-07T00:01:02.345Z INFO  [writer] msg device_id=dev-1" (colour on a terminal).
std::unique_ptr<spdlog::formatter> text_formatter();

}  // namespace iotd::log
