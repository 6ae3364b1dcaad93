// The decoder's direct path (src/pipeline/direct_decode.cpp) must give exactly what the DOM
// path gives, field for field (dedup key bit for bit: it is stored), or decline. Checked on
// every sample payload, every fuzz corpus input and 20,000 generated flat objects, each
// under several decoder options.
#include "../../../src/pipeline/decode_common.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

namespace iotd::pipeline::detail {
namespace {

using Json = nlohmann::json;

std::vector<DecoderOptions> option_sets() {
  std::vector<DecoderOptions> out(6);
  out[1].id_source = DeviceIdSource::topic;
  out[2].id_source = DeviceIdSource::payload;
  out[3].max_extra_bytes = 24;  // truncation of extra fields
  out[4].max_metrics = 2;
  out[5].aliases = {{"t", "temperature"}, {"temperature", "t"}, {"rssi", "battery"}};
  return out;
}

std::string describe(const tl::expected<Decoded, Rejection>& r) {
  if (!r) return "reject " + r.error().reason + ": " + r.error().detail;
  std::string s = "notes " + std::to_string(r->notes.nonfinite_dropped) + "/" +
                  std::to_string(r->notes.clock_skew) + "/" + std::to_string(r->notes.bad_timestamp) +
                  "/" + std::to_string(r->notes.device_id_mismatch);
  for (const Reading& x : r->readings) {
    s += "\n  " + x.device_id + " ts " + std::to_string(x.ts_ms) + " rcv " +
         std::to_string(x.received_at_ms) + " dev " + std::to_string(x.has_device_time) + " key " +
         (x.dedup_key ? std::to_string(*x.dedup_key) : "-") + " extra " + x.extra_json + " metrics";
    for (const auto& [name, value] : x.metrics) {
      std::uint64_t bits = 0;
      std::memcpy(&bits, &value, sizeof bits);
      s += " " + name + "=" + std::to_string(value) + "#" + std::to_string(bits);
    }
  }
  return s;
}

// Declined, or the same outcome as the DOM path. Returns true when not declined.
bool expect_same(std::string_view payload, const DecoderOptions& opts, std::string_view fallback) {
  const DecodeInput in{payload, fallback, 1'769'644'800'000};
  const auto direct = decode_direct(in, opts);
  if (!direct) return false;
  const auto dom = decode_dom(in, opts);
  EXPECT_EQ(describe(*direct), describe(dom)) << "payload: " << payload << " fallback '"
                                              << fallback << "'";
  return true;
}

std::size_t check_all(std::string_view payload) {
  std::size_t taken = 0;
  for (const DecoderOptions& opts : option_sets()) {
    for (const std::string_view fallback : {"", "dev-1", "bad id!"}) {
      taken += expect_same(payload, opts, fallback) ? 1 : 0;
      // decode() gives the same as the DOM path whichever path it took.
      const DecodeInput in{payload, fallback, 1'769'644'800'000};
      EXPECT_EQ(describe(decode(in, opts)), describe(decode_dom(in, opts))) << payload;
    }
  }
  return taken;
}

TEST(DirectDecode, TakesTheCommonFlatPayload) {
  const std::string p =
      R"({"device_id":"sim-00042","seq":7,"timestamp":"2026-01-29T00:00:00.123Z",)"
      R"("temperature":21.53,"humidity":40.1,"pressure":1013.2,"battery":3.7,"rssi":-61})";
  const DecoderOptions opts;
  const DecodeInput in{p, "sim-00042", 1'769'644'800'000};
  const auto direct = decode_direct(in, opts);
  ASSERT_TRUE(direct.has_value()) << "declined";
  ASSERT_TRUE(direct->has_value());
  const Reading& r = (*direct)->readings.at(0);
  EXPECT_EQ(r.device_id, "sim-00042");
  EXPECT_TRUE(r.has_device_time);
  EXPECT_EQ(r.ts_ms, 1'769'644'800'123);
  EXPECT_EQ(r.extra_json, R"({"seq":7})");
  ASSERT_EQ(r.metrics.size(), 5u);
  EXPECT_EQ(r.metrics[0].first, "battery");
  EXPECT_EQ(r.metrics[3].first, "rssi");
  EXPECT_EQ(r.metrics[3].second, -61.0);
  // The stored dedup key: pinned, so neither path may change it.
  std::string scratch;
  EXPECT_EQ(r.dedup_key, dedup_hash("7", r.metrics, scratch));
  EXPECT_EQ(describe(*direct), describe(decode_dom(in, opts)));
}

TEST(DirectDecode, DeclinesWhatItDoesNotRead) {
  const DecoderOptions opts;
  for (const std::string_view p : {
           R"({"device_id":"d","values":{"t":1}})",          // nested object
           R"({"device_id":"d","t":[1,2]})",                 // array
           R"([{"device_id":"d","t":1}])",                   // top-level array
           R"({"device_id":"d","name":"caf\u00e9","t":1})",  // escape
           "{\"device_id\":\"d\",\"name\":\"caf\xc3\xa9\",\"t\":1}",  // UTF-8
           R"({"device_id":"d","t":nan})",                   // firmware nan
           R"({"device_id":"d","t":1e999})",                 // overflow
           R"({"device_id":42,"t":1})",                      // numeric id
           R"({"device_id":"d","data_point_label":"t","value":1})",  // IotMeasurement
           R"({"device_id":"d","t":1,})",                    // not JSON
           R"({"device_id":"d","t":1} x)",
           "42",
       }) {
    EXPECT_FALSE(decode_direct(DecodeInput{p, "", 1'769'644'800'000}, opts).has_value()) << p;
  }
}

TEST(DirectDecode, EdgeCasesAgreeWithTheDomPath) {
  for (const std::string_view p : {
           R"({})",
           R"({"device_id":"d"})",
           R"({"device_id":null,"mac_address":"AA:BB","t":1})",
           R"({"mac_address":"AA:BB","device_id":"x y","t":1})",
           R"({"device_id":"d","t":1,"t":2,"device_id":"e"})",
           R"({"device_id":"d","temp":1,"temperature":2,"hum":"55 %","hum":"n/a"})",
           R"({"device_id":"d","ts":1706539845,"seq":"a","msg_id":1.5,"v":2.5,"unit":"C","x":3})",
           R"({"device_id":"d","ts":"1706539845.5","bad key":1.25,"ok":-0,"z":-0.0,"big":18446744073709551615})",
           R"({"device_id":"d","time":true,"a":"1e999","b":"0x1f","c":"12 V","d":false,"e":null})",
           R"({"device_id":"d","timestamp":99999999999999,"a":1})",
           R"({"device_id":"d","timestamp":"yesterday","a":1,"values":3,"metrics":"m"})",
           R"({"device_id":"d","timestamp":1.7e12,"a":1e-400,"b":123456789012345678901234})",
           R"({"device_id":"d","ts":-5,"a":1,"measurements":7})",
           R"({"device_id":"d","a":"x","b":"y","c":"z","d":"w","e":"v","f":"u","g":"t"})",
           R"({"device_id":"d","a":"1e999","b":"-inf"})",
           " \t\r\n{ \"device_id\" : \"d\" , \"a\" : 1 } \n",
       }) {
    SCOPED_TRACE(p);
    check_all(p);
  }
}

TEST(DirectDecode, EverySamplePayloadAgreesWithTheDomPath) {
  std::ifstream in(IOTD_TEST_DATA_DIR "/payloads.jsonl");
  std::string line;
  std::size_t n = 0, taken = 0;
  while (std::getline(in, line)) {
    ++n;
    taken += check_all(Json::parse(line).at("payload").get<std::string>()) > 0;
  }
  EXPECT_EQ(n, 80u);
  EXPECT_GT(taken, 10u);  // the direct path reads a good share of real payloads
}

TEST(DirectDecode, EveryFuzzCorpusInputAgreesWithTheDomPath) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(IOTD_TEST_DATA_DIR) / ".." / ".." / "fuzz" / "corpus" / "decoder";
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream f(e.path(), std::ios::binary);
    const std::string payload((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(e.path().filename().string());
    check_all(payload);
    ++n;
  }
  EXPECT_GT(n, 50u);
}

// Flat objects from a pool of keys and values chosen to hit every branch: reserved keys,
// aliases, duplicates, every value type, dates and epochs in and out of range.
TEST(DirectDecode, GeneratedFlatObjectsAgreeWithTheDomPath) {
  static const char* const kKeys[] = {
      "device_id", "mac_address", "seq", "msg_id", "ts", "timestamp", "time", "temp",
      "hum", "temperature", "humidity", "bad key", "v", "unit", "values", "metrics",
      "measurements", "value", "x.y", "rssi", "t", "A", "a-b", "_z", ""};
  static const char* const kValues[] = {
      "0", "-0", "1", "-61", "21.53", "1e3", "2.5E-3", "-0.0", "18446744073709551615",
      "18446744073709551616", "-9223372036854775809", "1e-400", "1706539845", "1706539845123",
      "1706539845.5", "99999999999999", "true", "false", "null", R"("sim-00042")", R"("AA:BB:CC")",
      R"("12 V")", R"("n/a")", R"("")", R"("1e999")", R"("-inf")", R"("0x1f")",
      R"("2026-01-29T00:00:00Z")", R"("2026-01-29T00:00:00.5+01:00")", R"("1706539845")",
      R"("1999-01-01T00:00:00Z")", R"("x y")", R"("a\"b")", "[1]", R"({"k":1})"};
  std::mt19937 rng(20261207);
  std::size_t taken = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string p = "{";
    const int fields = static_cast<int>(rng() % 9);
    for (int f = 0; f < fields; ++f) {
      if (f) p += rng() % 8 ? "," : " , ";
      p += '"';
      p += kKeys[rng() % std::size(kKeys)];
      p += "\":";
      p += kValues[rng() % std::size(kValues)];
    }
    p += "}";
    const auto opts = option_sets();
    const DecoderOptions& o = opts[rng() % opts.size()];
    const std::string_view fallback = rng() % 2 ? "dev-1" : "";
    taken += expect_same(p, o, fallback) ? 1 : 0;
    if (HasFailure()) break;
  }
  EXPECT_GT(taken, 5000u);
}

}  // namespace
}  // namespace iotd::pipeline::detail
