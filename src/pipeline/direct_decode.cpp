// The decoder's direct path (docs/architecture.md §6): most devices send one flat object of
// scalars, {"device_id":"d1","seq":7,"timestamp":"...","temperature":21.5,...}. This reads
// it from the bytes into a Reading without building nlohmann's document, and gives exactly
// what the DOM path gives (tests/unit/pipeline/direct_decode_test.cpp and fuzz_decoder
// compare them). It declines, and the DOM path decodes, anything else: nested objects or
// arrays, escapes or bytes outside printable ASCII in strings, non-finite numbers, invalid
// JSON, a non-string device id, IotMeasurement labels, more than kMaxFields fields.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "iotd/core/time.hpp"
#include "decode_common.hpp"
#include "json_scan.hpp"

namespace iotd::pipeline::detail {

namespace {

constexpr std::size_t kMaxFields = 32;

enum class Kind : std::uint8_t { string, integer, unsigned_integer, floating, boolean, null };

// One top-level member. Scalars only; a string's text is its contents, unquoted.
struct Field {
  std::string_view key;
  Kind kind = Kind::null;
  std::string_view text;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  bool b = false;
};

// Lexes one flat object with fast_json's rules (the same value types and number
// conversions as nlohmann's parser); false to decline.
class FlatParser {
 public:
  explicit FlatParser(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  bool parse(Field* out, std::size_t& n) {
    n = 0;
    skip_ws();
    if (p_ == end_ || *p_ != '{') return false;
    ++p_;
    skip_ws();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return at_end();
    }
    for (;;) {
      if (n == kMaxFields) return false;
      Field& f = out[n++];
      skip_ws();
      if (p_ == end_ || *p_ != '"' || !string(f.key)) return false;
      skip_ws();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      skip_ws();
      if (!value(f)) return false;
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '}') return false;
      ++p_;
      return at_end();
    }
  }

 private:
  bool at_end() {
    skip_ws();
    return p_ == end_;
  }

  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      return false;
    p_ += word.size();
    return true;
  }

  bool value(Field& f) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '"': f.kind = Kind::string; return string(f.text);
      case 't': f.kind = Kind::boolean; f.b = true; return literal("true");
      case 'f': f.kind = Kind::boolean; f.b = false; return literal("false");
      case 'n': f.kind = Kind::null; return literal("null");
      case '{': case '[': return false;
      default: return number(f);
    }
  }

  bool string(std::string_view& out) {
    return scan_plain_string(p_, end_, out);
  }

  // As fast_json: without fraction or exponent an unsigned or (with a minus) signed
  // integer when it fits, otherwise a double; a non-finite double declines.
  bool number(Field& f) {
    const char* start = p_;
    bool negative = false, is_float = false;
    if (!scan_json_number(p_, end_, negative, is_float)) return false;
    f.text = std::string_view(start, static_cast<std::size_t>(p_ - start));
    if (!is_float) {
      if (negative) {
        const auto r = std::from_chars(start, p_, f.i);
        if (r.ec == std::errc() && r.ptr == p_) {
          f.kind = Kind::integer;
          return true;
        }
      } else {
        const auto r = std::from_chars(start, p_, f.u);
        if (r.ec == std::errc() && r.ptr == p_) {
          f.kind = Kind::unsigned_integer;
          return true;
        }
      }
    }
    f.kind = Kind::floating;
    const auto r = std::from_chars(start, p_, f.d);
    if (r.ec == std::errc() && r.ptr == p_) return std::isfinite(f.d);
    // Out of range: strtod as fast_json does (an underflow is a finite 0 or subnormal there).
    char buf[128];
    const std::size_t n = f.text.size();
    if (n >= sizeof buf) return false;
    std::memcpy(buf, start, n);
    buf[n] = '\0';
    char* parsed_end = nullptr;
    f.d = std::strtod(buf, &parsed_end);
    return parsed_end == buf + n && std::isfinite(f.d);
  }

  const char* p_;
  const char* end_;
};

// The value as nlohmann's dump() writes it (printable-ASCII strings need no escapes).
void append_json(std::string& out, const Field& f) {
  char buf[32];
  switch (f.kind) {
    case Kind::string:
      out.push_back('"');
      out.append(f.text);
      out.push_back('"');
      return;
    case Kind::integer: out.append(buf, std::to_chars(buf, buf + sizeof buf, f.i).ptr); return;
    case Kind::unsigned_integer:
      out.append(buf, std::to_chars(buf, buf + sizeof buf, f.u).ptr);
      return;
    case Kind::floating: out += nlohmann::json(f.d).dump(); return;
    case Kind::boolean: out += f.b ? "true" : "false"; return;
    case Kind::null: out += "null"; return;
  }
}

const Field* find_non_null(const Field* fields, std::size_t n, std::string_view key) {
  for (std::size_t i = 0; i < n; ++i) {
    if (fields[i].key == key) return fields[i].kind == Kind::null ? nullptr : &fields[i];
  }
  return nullptr;
}

const Field* find_first(const Field* fields, std::size_t n,
                        std::initializer_list<std::string_view> keys) {
  for (const auto k : keys) {
    if (const Field* f = find_non_null(fields, n, k)) return f;
  }
  return nullptr;
}

enum class ValueKind { metric, nonfinite, non_numeric, ignored };

ValueKind numeric_value(const Field& f, double& out) {
  switch (f.kind) {
    case Kind::integer: out = static_cast<double>(f.i); return ValueKind::metric;
    case Kind::unsigned_integer: out = static_cast<double>(f.u); return ValueKind::metric;
    case Kind::floating: out = f.d; return ValueKind::metric;  // finite: the parser declines others
    case Kind::boolean: out = f.b ? 1.0 : 0.0; return ValueKind::metric;
    case Kind::string:
      switch (classify_numeric_string(f.text, out)) {
        case NumberClass::finite: return ValueKind::metric;
        case NumberClass::overflow: return ValueKind::nonfinite;
        case NumberClass::not_a_number: return ValueKind::non_numeric;
      }
      return ValueKind::non_numeric;
    case Kind::null: return ValueKind::ignored;
  }
  return ValueKind::ignored;
}

struct Time {
  std::int64_t ts_ms;
  TimeStatus status = TimeStatus::none;
  const Field* original = nullptr;
};

Time resolve_time(const Field* v, const DecodeInput& in, const DecoderOptions& opts) {
  Time t{in.received_at_ms};
  if (v == nullptr) return t;
  std::optional<std::int64_t> ms;
  bool parsed_number = false;
  switch (v->kind) {
    case Kind::integer:
      parsed_number = true;
      ms = time::epoch_integer_to_ms(v->i);
      break;
    case Kind::unsigned_integer:
      parsed_number = true;
      if (v->u <= static_cast<std::uint64_t>(INT64_MAX)) {
        ms = time::epoch_integer_to_ms(static_cast<std::int64_t>(v->u));
      }
      break;
    case Kind::floating:
      parsed_number = true;
      ms = time::epoch_number_to_ms(v->d);
      break;
    case Kind::string: {
      ms = time::parse_iso8601_ms(v->text);
      double n = 0;
      if (!ms && parse_epoch_string(v->text, n)) {
        parsed_number = true;
        ms = time::epoch_number_to_ms(n);
      }
      break;
    }
    default: break;
  }
  t.status = time_status(ms, parsed_number, /*sentinel=*/false, in, opts);
  if (t.status == TimeStatus::device) {
    t.ts_ms = *ms;
  } else {
    t.original = v;
  }
  return t;
}

ExtraEntry extra_entry(std::string_view key, const Field& value, bool keep_first) {
  std::string text;
  text.reserve(key.size() + value.text.size() + 8);
  text.push_back('"');
  text.append(key);
  text.append("\":");
  append_json(text, value);
  return ExtraEntry{key, std::move(text), keep_first};
}

}  // namespace

std::optional<tl::expected<Decoded, Rejection>> decode_direct(const DecodeInput& in,
                                                              const DecoderOptions& opts) {
  Field fields[kMaxFields];
  std::size_t n = 0;
  if (!FlatParser(in.payload).parse(fields, n)) return std::nullopt;
  // The members in the order of nlohmann's std::map, a repeated key's last value winning.
  small_stable_sort(fields, fields + n,
                    [](const Field& a, const Field& b) { return a.key < b.key; });
  std::size_t unique = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 1 < n && fields[i + 1].key == fields[i].key) continue;
    fields[unique++] = fields[i];
  }
  n = unique;
  // IotMeasurement records (one labelled metric) take the DOM path.
  if (find_non_null(fields, n, "data_point_label") || find_non_null(fields, n, "datapoint_label"))
    return std::nullopt;

  DecodeNotes notes;
  std::string payload_id;
  std::string_view id_key;
  if (opts.id_source != DeviceIdSource::topic) {
    const Field* id = find_non_null(fields, n, "device_id");
    id_key = "device_id";
    if (id == nullptr) {
      id = find_non_null(fields, n, "mac_address");
      id_key = "mac_address";
    }
    if (id == nullptr) {
      id_key = {};
    } else if (id->kind != Kind::string) {
      return std::nullopt;  // numeric ids and their rejections: the DOM path
    } else {
      payload_id.assign(id->text);
    }
  }
  auto device_id =
      choose_device_id(id_key.empty() ? nullptr : &payload_id, id_key, in, opts, notes);
  if (!device_id) return tl::expected<Decoded, Rejection>(tl::unexpect, std::move(device_id.error()));

  const Field* time_field = find_first(fields, n, {"timestamp", "ts", "time"});
  const Time t = resolve_time(time_field, in, opts);

  Metrics metrics;
  metrics.reserve(n);
  std::vector<ExtraEntry> extra;
  NameNotes names;
  for (std::size_t i = 0; i < n; ++i) {
    const Field& f = fields[i];
    if (f.key == "device_id" || (!id_key.empty() && f.key == id_key)) continue;
    if (time_field && &f == time_field) continue;
    if (is_reserved(f.key)) {  // "metrics"/"values" too: as scalars they are context
      if (f.kind != Kind::null) extra.push_back(extra_entry(f.key, f, false));
      continue;
    }
    double v = 0;
    const ValueKind kind = numeric_value(f, v);
    if (kind == ValueKind::ignored) continue;
    const bool name_ok = valid_metric_name(f.key);
    if (kind == ValueKind::metric && name_ok) {
      std::string name(f.key);
      if (!opts.aliases.empty()) {
        if (const auto alias = opts.aliases.find(name); alias != opts.aliases.end()) {
          name = alias->second;
        }
      }
      metrics.emplace_back(std::move(name), v);
      continue;
    }
    if (kind == ValueKind::nonfinite && name_ok) {
      ++notes.nonfinite_dropped;
      names.note_nonfinite(f.key);
      continue;
    }
    names.note_non_numeric(f.key);
    // As the DOM path: an empty key is only noted (it names no extra field).
    if (kind != ValueKind::nonfinite && !f.key.empty()) extra.push_back(extra_entry(f.key, f, false));
  }
  if (metrics.empty()) {
    return tl::expected<Decoded, Rejection>(reject(reason::no_metrics, names.no_metrics_detail()));
  }
  if (auto rej = finish_metrics(metrics, opts)) {
    return tl::expected<Decoded, Rejection>(tl::unexpect, std::move(*rej));
  }

  Reading r;
  r.device_id = std::move(*device_id);
  r.ts_ms = t.ts_ms;
  r.received_at_ms = in.received_at_ms;
  r.has_device_time = t.status == TimeStatus::device;
  if (t.status == TimeStatus::skewed) ++notes.clock_skew;
  if (t.status == TimeStatus::bad) ++notes.bad_timestamp;
  if (r.has_device_time) {
    std::string source;
    if (const Field* src = find_first(fields, n, {"msg_id", "seq"})) append_json(source, *src);
    std::string scratch;
    r.dedup_key = dedup_hash(source, metrics, scratch);
  }
  r.metrics = std::move(metrics);
  if (!extra.empty() || t.original) {
    if (t.original) extra.push_back(extra_entry("original_ts", *t.original, true));
    r.extra_json = assemble_extra(extra, opts.max_extra_bytes);
  }
  Decoded out;
  out.readings.push_back(std::move(r));
  out.notes = notes;
  return tl::expected<Decoded, Rejection>(std::move(out));
}

}  // namespace iotd::pipeline::detail
