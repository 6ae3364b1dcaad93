// The decoder's fast JSON path must build exactly what nlohmann/json's parser builds (value
// types included) or decline. Checked on hand-picked edge cases, on every sample payload
// of the seeds, and on 20,000 generated documents.
#include "../../../src/pipeline/fast_json.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <string>

namespace iotd::pipeline::detail {
namespace {

using Json = nlohmann::json;

// Same type and value all the way down (operator== would call 1 and 1.0 equal).
bool identical(const Json& a, const Json& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Json::value_t::object: {
      if (a.size() != b.size()) return false;
      auto ib = b.begin();
      for (auto ia = a.begin(); ia != a.end(); ++ia, ++ib)
        if (ia.key() != ib.key() || !identical(*ia, *ib)) return false;
      return true;
    }
    case Json::value_t::array:
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i)
        if (!identical(a[i], b[i])) return false;
      return true;
    case Json::value_t::number_float: {
      const double x = a.get<double>(), y = b.get<double>();
      return std::memcmp(&x, &y, sizeof x) == 0;
    }
    default:
      return a == b;
  }
}

// nlohmann's answer: the document, or discarded (a parse error) when it refuses.
Json reference(std::string_view text) {
  return Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

// Either declines, or agrees with nlohmann (which must then accept the text too).
void expect_agrees(std::string_view text, std::size_t depth = 16) {
  Json fast;
  if (!fast_parse_json(text, depth, fast)) return;
  const Json ref = reference(text);
  ASSERT_FALSE(ref.is_discarded()) << "fast path accepted what nlohmann refuses: " << text;
  EXPECT_TRUE(identical(fast, ref)) << text << "\n fast: " << fast.dump() << "\n  ref: " << ref.dump();
}

bool accepted(std::string_view text, std::size_t depth = 16) {
  Json out;
  return fast_parse_json(text, depth, out);
}

TEST(FastJson, TypicalPayloadsAreTakenAndMatch) {
  for (const char* t : {
           R"({"temperature": 24.5, "humidity": 55, "timestamp": "2026-01-29T14:30:45Z"})",
           R"({"device_id":"ESP32_001","values":{"t":-3,"ok":true,"x":null},"list":[1,2.5e3,-0.0]})",
           R"([{"n":"temp","v":21.5},{"n":"hum","v":40}])", " \t\r\n{ } ", "[]", "0", "-0", "1E+2",
           R"({"a":1,"a":2})", R"({"a":{"b":1},"a":[2]})"}) {
    EXPECT_TRUE(accepted(t)) << t;
    expect_agrees(t);
  }
}

TEST(FastJson, NumberTypesAndOverflowFollowNlohmann) {
  for (const char* t : {"18446744073709551615", "18446744073709551616", "-9223372036854775808",
                        "-9223372036854775809", "123456789012345678901234567890",
                        "-1e-999", "0.1", "3.141592653589793238462643383279", "5", "-5"}) {
    EXPECT_TRUE(accepted(t)) << t;
    expect_agrees(t);
  }
  // Overflow to infinity: nlohmann refuses it (the decoder's rewrite path handles it).
  EXPECT_FALSE(accepted("1e999"));
  EXPECT_FALSE(accepted("[-1e309]"));
  Json v;
  ASSERT_TRUE(fast_parse_json("5", 16, v));
  EXPECT_EQ(v.type(), Json::value_t::number_unsigned);
  ASSERT_TRUE(fast_parse_json("-5", 16, v));
  EXPECT_EQ(v.type(), Json::value_t::number_integer);
  ASSERT_TRUE(fast_parse_json("18446744073709551616", 16, v));
  EXPECT_EQ(v.type(), Json::value_t::number_float);
}

TEST(FastJson, DeclinesWhatItDoesNotHandle) {
  for (const char* t : {R"({"a":"\n"})", R"({"a":"caf\u00e9"})", "{\"a\":\"caf\xc3\xa9\"}",
                        "\xef\xbb\xbf{}", "{\"a\":\"x\ty\"}", "", "   ", "{", "[1,]", "{\"a\":1,}",
                        "01", "1.", ".5", "+1", "-", "1e", "nan", "{\"v\":NaN}", "tru", "nulll",
                        "{} {}", "{\"a\" 1}", "{'a':1}", "[1 2]"}) {
    EXPECT_FALSE(accepted(t)) << t;
  }
}

TEST(FastJson, DepthLimitIsTheDecodersAndDeeperIsDeclined) {
  const std::string sixteen = std::string(16, '[') + std::string(16, ']');
  const std::string seventeen = std::string(17, '[') + std::string(17, ']');
  EXPECT_TRUE(accepted(sixteen));
  EXPECT_FALSE(accepted(seventeen));
  expect_agrees(sixteen);
}

TEST(FastJson, EverySeedSamplePayloadAgrees) {
  std::ifstream in(std::string(IOTD_TEST_DATA_DIR) + "/payloads.jsonl");
  ASSERT_TRUE(in) << "samples file missing";
  std::string line;
  int n = 0, taken = 0;
  while (std::getline(in, line)) {
    auto rec = Json::parse(line, nullptr, false);
    if (rec.is_discarded() || !rec.contains("payload") || !rec["payload"].is_string()) continue;
    const std::string payload = rec["payload"].get<std::string>();
    ++n;
    Json out;
    if (fast_parse_json(payload, 16, out)) ++taken;
    expect_agrees(payload);
  }
  EXPECT_GT(n, 50);
  EXPECT_GT(taken, n / 2) << "the fast path should take most real payloads";
}

// Random documents from a grammar that reaches the edges: keys and strings of printable
// ASCII (sometimes with an escape or a UTF-8 byte, which must be declined), numbers of
// every shape, duplicate keys, nesting, and now and then a corrupted byte.
class Generator {
 public:
  explicit Generator(unsigned seed) : rng_(seed) {}

  std::string document() {
    std::string s;
    value(s, 0);
    if (pick(20) == 0 && !s.empty()) s[pick(static_cast<int>(s.size()))] = "{}[],:\"0-e. x"[pick(13)];
    return s;
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  void ws(std::string& s) {
    static const char* kWs[] = {"", "", "", " ", "\n", "\t ", "\r\n"};
    s += kWs[pick(7)];
  }

  void text(std::string& s) {
    s += '"';
    const int len = pick(12);
    for (int i = 0; i < len; ++i) {
      const int k = pick(60);
      if (k == 0) s += "\\n";
      else if (k == 1) s += "\xc3\xa9";
      else if (k < 5) s += "abc"[pick(3)];
      else {
        const char c = static_cast<char>(0x20 + pick(0x5f));
        s += c == '"' ? 'q' : c;
      }
    }
    // never leave a lone backslash before the closing quote
    if (!s.empty() && s.back() == '\\') s.back() = 'b';
    s += '"';
  }

  void number(std::string& s) {
    static const char* kFixed[] = {"0", "-0", "1", "-1", "18446744073709551615", "18446744073709551616",
                                   "-9223372036854775808", "-9223372036854775809", "1e308", "1e309",
                                   "2.2250738585072014e-308", "4.9e-324", "0.30000000000000004"};
    if (pick(4) == 0) {
      s += kFixed[pick(13)];
      return;
    }
    if (pick(2)) s += '-';
    s += std::to_string(pick(100000));
    if (pick(2)) s += "." + std::to_string(pick(100000));
    if (pick(4) == 0) s += std::string(pick(2) ? "e" : "E") + (pick(2) ? "-" : "+") + std::to_string(pick(30));
  }

  void value(std::string& s, int depth) {
    const int k = depth > 17 ? 4 + pick(6) : pick(10);
    if (k < 2) {
      s += '{';
      ws(s);
      const int n = pick(5);
      for (int i = 0; i < n; ++i) {
        if (i) s += ',';
        ws(s);
        if (pick(4) == 0) s += "\"dup\"";
        else text(s);
        ws(s);
        s += ':';
        ws(s);
        value(s, depth + 1);
        ws(s);
      }
      s += '}';
    } else if (k < 4) {
      s += '[';
      const int n = pick(5);
      for (int i = 0; i < n; ++i) {
        if (i) s += ',';
        ws(s);
        value(s, depth + 1);
        ws(s);
      }
      s += ']';
    } else if (k < 6) {
      number(s);
    } else if (k < 8) {
      text(s);
    } else {
      static const char* kLit[] = {"true", "false", "null"};
      s += kLit[pick(3)];
    }
  }

  std::mt19937 rng_;
};

TEST(FastJson, TwentyThousandGeneratedDocumentsAgreeWithNlohmann) {
  Generator gen(20261122);
  int taken = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string doc = gen.document();
    Json out;
    if (fast_parse_json(doc, 16, out)) ++taken;
    expect_agrees(doc);
    if (HasFailure()) break;
  }
  EXPECT_GT(taken, 5000) << "the generator should exercise the fast path";
}

}  // namespace
}  // namespace iotd::pipeline::detail
