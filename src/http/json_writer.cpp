#include "json_writer.hpp"

#include "iotd/core/time.hpp"

namespace iotd::http {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], 0 when invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  std::size_t len;
  std::uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
  else return 0;
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    return 0;
  return len;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) { ++i; continue; }
    if (c >= 0x80) {
      std::size_t len = utf8_sequence_length(s, i);
      if (len > 0) { i += len; continue; }
      out.append(s.data() + run, i - run);
      out.append("\\ufffd");
      ++i;
      run = i;
      continue;
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
    ++i;
    run = i;
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

// Same output as time::format_iso8601_ms, without snprintf or an allocation: this runs
// several times per /readings/latest response (the benchmarked path).
void append_iso8601(std::string& out, std::int64_t ms) {
  constexpr std::int64_t kDay = 86'400'000;
  // Years 0000-9999 only; anything else takes the general path.
  constexpr std::int64_t kMin = -62'167'219'200'000;  // 0000-01-01T00:00:00Z
  constexpr std::int64_t kMax = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z
  if (ms < kMin || ms > kMax) {
    out.append(time::format_iso8601_ms(ms));
    return;
  }
  std::int64_t days = ms / kDay;
  std::int64_t rem = ms % kDay;
  if (rem < 0) {
    rem += kDay;
    --days;
  }
  // civil_from_days (H. Hinnant)
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const auto y = static_cast<unsigned>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0));
  const auto r = static_cast<unsigned>(rem);
  const unsigned hh = r / 3'600'000, mi = r / 60'000 % 60, ss = r / 1000 % 60, mss = r % 1000;
  char b[24] = {static_cast<char>('0' + y / 1000), static_cast<char>('0' + y / 100 % 10),
                static_cast<char>('0' + y / 10 % 10), static_cast<char>('0' + y % 10), '-',
                static_cast<char>('0' + m / 10), static_cast<char>('0' + m % 10), '-',
                static_cast<char>('0' + d / 10), static_cast<char>('0' + d % 10), 'T',
                static_cast<char>('0' + hh / 10), static_cast<char>('0' + hh % 10), ':',
                static_cast<char>('0' + mi / 10), static_cast<char>('0' + mi % 10), ':',
                static_cast<char>('0' + ss / 10), static_cast<char>('0' + ss % 10), '.',
                static_cast<char>('0' + mss / 100), static_cast<char>('0' + mss / 10 % 10),
                static_cast<char>('0' + mss % 10), 'Z'};
  out.append(b, sizeof b);
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (std::size_t rest = in.size() - i; rest > 0) {
    std::uint32_t v = byte(i) << 16;
    if (rest == 2) v |= byte(i + 1) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace iotd::http
