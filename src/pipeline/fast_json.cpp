#include "fast_json.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "json_scan.hpp"

namespace iotd::pipeline::detail {
namespace {

using Json = nlohmann::json;

class FastParser {
 public:
  FastParser(std::string_view text, std::size_t max_depth)
      : p_(text.data()), end_(text.data() + text.size()), max_depth_(max_depth) {}

  bool parse(Json& out) {
    skip_ws();
    if (!value(out, 0)) return false;
    skip_ws();
    return p_ == end_;
  }

 private:
  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      return false;
    p_ += word.size();
    return true;
  }

  bool value(Json& out, std::size_t depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{': return object(out, depth + 1);
      case '[': return array(out, depth + 1);
      case '"': {
        std::string_view s;
        if (!string(s)) return false;
        out = std::string(s);
        return true;
      }
      case 't': out = true; return literal("true");
      case 'f': out = false; return literal("false");
      case 'n': out = nullptr; return literal("null");
      default: return number(out);
    }
  }

  bool object(Json& out, std::size_t depth) {
    if (depth > max_depth_) return false;
    ++p_;  // '{'
    out = Json::object();
    auto& obj = out.get_ref<Json::object_t&>();
    skip_ws();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_ws();
      std::string_view key;
      if (p_ == end_ || *p_ != '"' || !string(key)) return false;
      skip_ws();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      skip_ws();
      // operator[]: a repeated key overwrites the earlier value, as nlohmann's parser does.
      if (!value(obj[std::string(key)], depth)) return false;
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '}') return false;
      ++p_;
      return true;
    }
  }

  bool array(Json& out, std::size_t depth) {
    if (depth > max_depth_) return false;
    ++p_;  // '['
    out = Json::array();
    auto& arr = out.get_ref<Json::array_t&>();
    skip_ws();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_ws();
      arr.emplace_back();
      if (!value(arr.back(), depth)) return false;
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != ']') return false;
      ++p_;
      return true;
    }
  }

  // Printable ASCII only, no escapes: anything else is left to nlohmann (UTF-8 checks,
  // \u escapes, control characters).
  bool string(std::string_view& out) {
    return scan_plain_string(p_, end_, out);
  }

  // JSON's number grammar; converted as nlohmann's lexer does: without fraction or
  // exponent an unsigned (strtoull) or, with a minus, a signed (strtoll) integer when it
  // fits, otherwise (and with fraction or exponent) a double from strtod.
  bool number(Json& out) {
    const char* start = p_;
    bool negative = false, is_float = false;
    if (!scan_json_number(p_, end_, negative, is_float)) return false;
    // The C functions want a terminated string; numbers are short.
    const std::size_t n = static_cast<std::size_t>(p_ - start);
    if (n >= sizeof buf_) return false;
    std::memcpy(buf_, start, n);
    buf_[n] = '\0';
    char* parsed_end = nullptr;
    if (!is_float) {
      errno = 0;
      if (negative) {
        const long long v = std::strtoll(buf_, &parsed_end, 10);
        if (errno == 0 && parsed_end == buf_ + n) {
          out = static_cast<Json::number_integer_t>(v);
          return true;
        }
      } else {
        const unsigned long long v = std::strtoull(buf_, &parsed_end, 10);
        if (errno == 0 && parsed_end == buf_ + n) {
          out = static_cast<Json::number_unsigned_t>(v);
          return true;
        }
      }
    }
    const double d = std::strtod(buf_, &parsed_end);
    // nlohmann refuses a number that overflows to infinity (the decoder then rewrites it).
    if (parsed_end != buf_ + n || !std::isfinite(d)) return false;
    out = d;
    return true;
  }

  const char* p_;
  const char* end_;
  std::size_t max_depth_;
  char buf_[128];
};

}  // namespace

bool fast_parse_json(std::string_view text, std::size_t max_depth, nlohmann::json& out) {
  FastParser parser(text, max_depth);
  return parser.parse(out);
}

}  // namespace iotd::pipeline::detail
