// A minimal streaming JSON writer for response bodies: appends straight into a string
// (no DOM), shortest round-trip doubles, non-finite numbers as null. Commas are placed
// automatically. Not thread-safe; one per response.
#pragma once

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "iotd/http/router.hpp"

namespace iotd::http {

inline void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out.append("null");
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

inline void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// "2026-01-29T14:30:45.123Z" (time::format_iso8601_ms).
void append_iso8601(std::string& out, std::int64_t ms);

bool valid_utf8(std::string_view s);
std::string base64_encode(std::string_view bytes);  // standard alphabet, padded

class JsonWriter {
 public:
  explicit JsonWriter(std::size_t reserve = 256) { out_.reserve(reserve); }

  JsonWriter& begin_object() { sep(); out_.push_back('{'); push(); return *this; }
  JsonWriter& end_object() { out_.push_back('}'); --depth_; return *this; }
  JsonWriter& begin_array() { sep(); out_.push_back('['); push(); return *this; }
  JsonWriter& end_array() { out_.push_back(']'); --depth_; return *this; }

  JsonWriter& key(std::string_view k) {
    sep();
    append_json_string(out_, k);
    out_.push_back(':');
    after_key_ = true;
    return *this;
  }
  JsonWriter& str(std::string_view v) { sep(); append_json_string(out_, v); return *this; }
  JsonWriter& num(double v) { sep(); append_double(out_, v); return *this; }
  JsonWriter& integer(std::int64_t v) { sep(); append_int(out_, v); return *this; }
  JsonWriter& boolean(bool v) { sep(); out_.append(v ? "true" : "false"); return *this; }
  JsonWriter& null() { sep(); out_.append("null"); return *this; }
  JsonWriter& iso(std::int64_t ms) {
    sep();
    out_.push_back('"');
    append_iso8601(out_, ms);
    out_.push_back('"');
    return *this;
  }
  // Already-serialised JSON (e.g. a stored metrics object).
  JsonWriter& raw(std::string_view json) { sep(); out_.append(json); return *this; }

  JsonWriter& opt_num(const std::optional<double>& v) { return v ? num(*v) : null(); }
  JsonWriter& opt_iso(const std::optional<std::int64_t>& ms) { return ms ? iso(*ms) : null(); }
  JsonWriter& opt_str(const std::optional<std::string>& s) { return s ? str(*s) : null(); }
  // Empty string -> null.
  JsonWriter& str_or_null(std::string_view s) { return s.empty() ? null() : str(s); }

  std::string& buffer() { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void push() {
    if (depth_ < kMaxDepth) first_[depth_] = true;
    ++depth_;
  }
  void sep() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (depth_ == 0 || depth_ > kMaxDepth) return;
    if (!first_[depth_ - 1]) out_.push_back(',');
    first_[depth_ - 1] = false;
  }

  static constexpr int kMaxDepth = 32;
  std::string out_;
  std::array<bool, kMaxDepth> first_{};
  int depth_ = 0;
  bool after_key_ = false;
};

}  // namespace iotd::http
