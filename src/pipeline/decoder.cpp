// Telemetry payload decoder (see include/iotd/pipeline/decoder.hpp). Pure and
// thread-safe: all state lives in a per-call Decoder; nothing escapes decode() as an
// exception. decode() tries the direct path (direct_decode.cpp) first; this file is the DOM
// path: one DOM parse per payload (a second only for firmware nan/inf tokens).
#include "iotd/pipeline/decoder.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "iotd/core/hash.hpp"
#include "iotd/core/text.hpp"
#include "iotd/core/time.hpp"
#include "fast_json.hpp"
#include "json_scan.hpp"
#include "decode_common.hpp"

namespace iotd::pipeline {

namespace {

using Json = nlohmann::json;
namespace scan = detail;
using detail::ExtraEntry;
using detail::Metrics;
using detail::NameNotes;
using detail::TimeStatus;
using detail::clean_detail;
using detail::is_reserved;
using detail::reject;
using text::trim;

// Deeper JSON is rejected while parsing: no real sensor nests more, and it bounds the
// recursion of the flattening below.
constexpr std::size_t kMaxDepth = 16;
// ---------------------------------------------------------------------------------------
// Parsing: nlohmann's DOM builder with a depth cap and the error position kept.

class BoundedDomParser : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  using Base = nlohmann::detail::json_sax_dom_parser<Json>;
  explicit BoundedDomParser(Json& root) : Base(root, /*allow_exceptions=*/false) {}

  bool start_object(std::size_t n) { return enter() && Base::start_object(n); }
  bool end_object() {
    --depth_;
    return Base::end_object();
  }
  bool start_array(std::size_t n) { return enter() && Base::start_array(n); }
  bool end_array() {
    --depth_;
    return Base::end_array();
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    error_position_ = position;
    error_ = ex.what();
    return false;
  }

  bool too_deep() const { return too_deep_; }
  std::size_t error_position() const { return error_position_; }
  const std::string& error() const { return error_; }

 private:
  bool enter() {
    if (++depth_ > kMaxDepth) {
      too_deep_ = true;
      return false;
    }
    return true;
  }
  std::size_t depth_ = 0;
  bool too_deep_ = false;
  std::size_t error_position_ = 0;
  std::string error_;
};

// "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> from "parse".
std::string parse_error_detail(const BoundedDomParser& p) {
  std::string_view what = p.error();
  if (const auto close = what.find("] "); close != std::string_view::npos && what.front() == '[')
    what.remove_prefix(close + 2);
  return "byte " + std::to_string(p.error_position()) + ": " + std::string(what);
}

struct ParseResult {
  Json doc;
  bool rewritten = false;  // sentinel strings stand for non-finite tokens
};

tl::expected<ParseResult, Rejection> parse_payload(std::string_view payload) {
  ParseResult r;
  // Most payloads: the fast path builds the same document nlohmann would (see fast_json).
  if (scan::fast_parse_json(payload, kMaxDepth, r.doc)) return r;
  r.doc = Json();
  BoundedDomParser first(r.doc);
  if (Json::sax_parse(payload.data(), payload.data() + payload.size(), &first)) return r;
  if (first.too_deep()) {
    return reject(reason::not_json, "too deep: nesting over " + std::to_string(kMaxDepth));
  }
  // Firmware prints nan/inf as bare words (String(NAN) on Arduino), which no JSON parser
  // accepts; rewrite them, then drop just those metrics.
  if (auto rewritten = scan::rewrite_nonfinite_tokens(payload)) {
    Json doc;
    BoundedDomParser second(doc);
    if (Json::sax_parse(rewritten->data(), rewritten->data() + rewritten->size(), &second)) {
      r.doc = std::move(doc);
      r.rewritten = true;
      return r;
    }
    if (second.too_deep()) {
      return reject(reason::not_json, "too deep: nesting over " + std::to_string(kMaxDepth));
    }
  }
  return reject(reason::not_json, parse_error_detail(first));
}

// ---------------------------------------------------------------------------------------
// Keys and values.

const Json* find_non_null(const Json& obj, std::string_view key) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// The first of keys present with a non-null value; sets used_key.
const Json* find_first(const Json& obj, std::initializer_list<std::string_view> keys,
                       std::string_view* used_key = nullptr) {
  for (const auto k : keys) {
    if (const Json* v = find_non_null(obj, k)) {
      if (used_key) *used_key = k;
      return v;
    }
  }
  return nullptr;
}

enum class ValueKind { metric, nonfinite, non_numeric, ignored };

ValueKind numeric_value(const Json& v, bool rewritten, double& out) {
  switch (v.type()) {
    case Json::value_t::number_integer:
      out = static_cast<double>(v.get_ref<const Json::number_integer_t&>());
      return ValueKind::metric;
    case Json::value_t::number_unsigned:
      out = static_cast<double>(v.get_ref<const Json::number_unsigned_t&>());
      return ValueKind::metric;
    case Json::value_t::number_float:
      out = v.get_ref<const Json::number_float_t&>();
      return std::isfinite(out) ? ValueKind::metric : ValueKind::nonfinite;
    case Json::value_t::boolean:
      out = v.get_ref<const Json::boolean_t&>() ? 1.0 : 0.0;
      return ValueKind::metric;
    case Json::value_t::string: {
      const auto& s = v.get_ref<const Json::string_t&>();
      if (rewritten && s == scan::kNonFiniteSentinel) return ValueKind::nonfinite;
      switch (scan::classify_numeric_string(s, out)) {
        case scan::NumberClass::finite: return ValueKind::metric;
        case scan::NumberClass::overflow: return ValueKind::nonfinite;
        case scan::NumberClass::not_a_number: return ValueKind::non_numeric;
      }
      return ValueKind::non_numeric;
    }
    case Json::value_t::null:
    case Json::value_t::discarded:
      return ValueKind::ignored;
    default:  // arrays, objects, binary
      return ValueKind::non_numeric;
  }
}

// ---------------------------------------------------------------------------------------
// Per-call state.

struct TimeInfo {
  std::int64_t ts_ms = 0;
  TimeStatus status = TimeStatus::none;
  const Json* original = nullptr;  // kept as extra "original_ts" when replaced
};

struct ExtraField {
  std::string key;
  const Json* value;
};

// What one reading-shaped object yields before it becomes Reading(s).
struct Fields : NameNotes {
  Metrics metrics;
  std::vector<ExtraField> extra;
};

class Decoder {
 public:
  Decoder(const DecodeInput& in, const DecoderOptions& opts, bool rewritten)
      : in_(in), opts_(opts), rewritten_(rewritten) {}

  tl::expected<Decoded, Rejection> run(const Json& doc) {
    if (doc.is_object()) {
      if (auto r = decode_object(doc); !r) return tl::unexpected(std::move(r.error()));
    } else if (doc.is_array()) {
      if (auto r = decode_array(doc); !r) return tl::unexpected(std::move(r.error()));
    } else {
      return reject(reason::not_object,
                    std::string("JSON ") + doc.type_name() + " is not an object or array");
    }
    return Decoded{std::move(readings_), notes_};
  }

 private:
  using Status = tl::expected<void, Rejection>;

  Status decode_array(const Json& arr) {
    if (arr.empty()) return reject(reason::no_metrics, "empty array");
    bool senml = true;
    for (const Json& e : arr) {
      if (!senml) break;
      const auto n = e.is_object() ? e.find("n") : e.end();
      senml = e.is_object() && n != e.end() && n->is_string();
    }
    if (senml) return decode_items(arr, nullptr, "");
    readings_.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const Json& e = arr[i];
      if (!e.is_object()) {
        return reject(reason::not_object, "element " + std::to_string(i) + " is a " +
                                              e.type_name() + ", not an object");
      }
      if (auto r = decode_object(e); !r) {
        Rejection rej = std::move(r.error());
        rej.detail = clean_detail("element " + std::to_string(i) + ": " + rej.detail);
        return tl::unexpected(std::move(rej));
      }
    }
    return {};
  }

  Status decode_object(const Json& obj) {
    std::string_view id_key;
    auto id = resolve_device_id(obj, id_key);
    if (!id) return tl::unexpected(std::move(id.error()));

    if (const Json* items = find_non_null(obj, "measurements"); items && items->is_array()) {
      return decode_measurement_list(obj, *items, *id, id_key);
    }
    if (find_non_null(obj, "value") != nullptr) {
      std::string_view label_key;
      const Json* label = find_first(obj, {"data_point_label", "datapoint_label"}, &label_key);
      if (label && label->is_string()) return decode_labelled(obj, *label, label_key, *id, id_key);
    }

    std::string_view time_key;
    const TimeInfo t = resolve_time(find_first(obj, {"timestamp", "ts", "time"}, &time_key));
    Fields f;
    f.metrics.reserve(obj.size());
    for (const auto& [key, value] : obj.items()) {
      if (key == "device_id" || (!id_key.empty() && key == id_key)) continue;
      if (!time_key.empty() && key == time_key) continue;
      if (key == "metrics" || key == "values") {
        if (value.is_object()) {
          for (const auto& [k, v] : value.items()) add_field(f, k, v, /*top_level=*/true);
        } else if (!value.is_null()) {
          f.extra.push_back({key, &value});
        }
        continue;
      }
      if (is_reserved(key)) {
        if (!value.is_null()) f.extra.push_back({key, &value});
        continue;
      }
      add_field(f, key, value, /*top_level=*/true);
    }
    if (f.metrics.empty()) return reject(reason::no_metrics, f.no_metrics_detail());
    return emit(*id, t, std::move(f.metrics), f.extra, dedup_source(obj));
  }

  // IotMeasurement record: {"data_point_label": name, "value": v, ...}: ONE metric; every
  // other key (mode, pin, unit, original_topic, connector, ...) is context, kept in extra.
  Status decode_labelled(const Json& obj, const Json& label, std::string_view label_key,
                         const std::string& id, std::string_view id_key) {
    std::string_view time_key;
    const TimeInfo t = resolve_time(find_first(obj, {"timestamp", "ts", "time"}, &time_key));
    Fields f;
    const Json& value = *obj.find("value");
    const auto& name = label.get_ref<const Json::string_t&>();
    add_metric(f, name, value, /*top_level=*/false, /*extra_key=*/"value");
    for (const auto& [key, v] : obj.items()) {
      if (key == "device_id" || key == id_key || key == time_key || key == label_key ||
          key == "value" || v.is_null()) {
        continue;
      }
      f.extra.push_back({key, &v});
    }
    if (f.metrics.empty()) return reject(reason::no_metrics, f.no_metrics_detail());
    return emit(id, t, std::move(f.metrics), f.extra, dedup_source(obj));
  }

  // Envelope {"ts"?, "seq"?, "measurements": [...]}: every envelope field except the id
  // and time is context (extra); only the items carry metrics.
  Status decode_measurement_list(const Json& obj, const Json& items, const std::string& id,
                                 std::string_view id_key) {
    std::string_view time_key;
    const Json* time_value = find_first(obj, {"timestamp", "ts", "time"}, &time_key);
    std::vector<ExtraField> extra;
    for (const auto& [key, v] : obj.items()) {
      if (key == id_key || key == "device_id" || key == time_key || key == "measurements" ||
          v.is_null()) {
        continue;
      }
      extra.push_back({key, &v});
    }
    return decode_items(items, time_value, id, std::move(extra), dedup_source(obj));
  }

  struct Group {
    TimeInfo time;
    Metrics metrics;
  };

  // Items {"type"|"name"|"n", "val"|"value"|"v", "unit"|"u"?, "ts"|"timestamp"|"t"?}, or
  // flat metric objects with their own time. One reading per distinct time.
  Status decode_items(const Json& items, const Json* envelope_time, std::string_view id_in,
                      std::vector<ExtraField> extra = {}, const Json* dedup_src = nullptr) {
    std::string id(id_in);
    if (id.empty()) {  // SenML array: no envelope, the id comes from the topic or key
      std::string_view unused;
      auto r = resolve_device_id(Json::object(), unused);
      if (!r) return tl::unexpected(std::move(r.error()));
      id = std::move(*r);
    }
    if (items.empty()) return reject(reason::no_metrics, "measurements is empty");
    const TimeInfo envelope = resolve_time(envelope_time);
    std::vector<Group> groups;
    Fields f;  // collects names for the detail; metrics go to groups
    for (std::size_t i = 0; i < items.size(); ++i) {
      const Json& item = items[i];
      if (!item.is_object()) {
        f.note_non_numeric("measurements[" + std::to_string(i) + "]");
        continue;
      }
      f.metrics.clear();
      const Json* name = find_first(item, {"type", "name", "n"});
      const bool named = name && name->is_string();
      // SenML's "t" only in named items: in a flat item "t" may well be a metric.
      std::string_view item_time_key;
      const Json* item_time = named ? find_first(item, {"ts", "timestamp", "t"}, &item_time_key)
                                    : find_first(item, {"timestamp", "ts"}, &item_time_key);
      const TimeInfo t = item_time ? resolve_time(item_time) : envelope;
      if (named) {
        const Json* value = find_first(item, {"val", "value", "v"});
        if (value) {
          add_metric(f, name->get_ref<const Json::string_t&>(), *value, /*top_level=*/false, {});
        } else {
          f.note_non_numeric(name->get_ref<const Json::string_t&>());
        }
      } else {
        for (const auto& [key, v] : item.items()) {
          if (key == item_time_key || is_reserved(key)) continue;
          add_field(f, key, v, /*top_level=*/false);
        }
      }
      if (f.metrics.empty()) continue;
      auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) {
        return x.time.ts_ms == t.ts_ms && x.time.status == t.status;
      });
      if (g == groups.end()) {
        groups.push_back({t, {}});
        g = std::prev(groups.end());
      }
      for (auto& m : f.metrics) g->metrics.push_back(std::move(m));
    }
    if (groups.empty()) return reject(reason::no_metrics, f.no_metrics_detail());
    readings_.reserve(readings_.size() + groups.size());
    for (Group& g : groups) {
      if (auto r = emit(id, g.time, std::move(g.metrics), extra, dedup_src); !r) return r;
    }
    return {};
  }

  // A top-level (or flattened nested) field: a metric, or context for extra.
  void add_field(Fields& f, const std::string& name, const Json& value, bool top_level) {
    if (value.is_object()) {
      for (const auto& [k, v] : value.items()) {
        std::string nested;
        nested.reserve(name.size() + 1 + k.size());
        nested.append(name).push_back('.');
        nested.append(k);
        add_field(f, nested, v, false);
      }
      return;
    }
    add_metric(f, name, value, top_level, name);
  }

  // extra_key: where a non-metric value goes in extra (empty: dropped, noted only).
  void add_metric(Fields& f, const std::string& raw_name, const Json& value, bool top_level,
                  std::string_view extra_key) {
    double v = 0;
    const ValueKind kind = numeric_value(value, rewritten_, v);
    if (kind == ValueKind::ignored) return;
    const bool name_ok = valid_metric_name(raw_name) && !(top_level && is_reserved(raw_name));
    if (kind == ValueKind::metric && name_ok) {
      const auto alias = opts_.aliases.find(raw_name);
      f.metrics.emplace_back(alias == opts_.aliases.end() ? raw_name : alias->second, v);
      return;
    }
    if (kind == ValueKind::nonfinite && name_ok) {
      ++notes_.nonfinite_dropped;
      f.note_nonfinite(raw_name);
      return;
    }
    f.note_non_numeric(raw_name);
    // A sentinel never reaches extra: it is an artefact of the rewrite, not input.
    if (!extra_key.empty() && kind != ValueKind::nonfinite) {
      f.extra.push_back({std::string(extra_key), &value});
    }
  }

  tl::expected<std::string, Rejection> resolve_device_id(const Json& obj,
                                                         std::string_view& used_key) {
    used_key = {};
    std::string payload_id;
    bool has_payload_id = false;
    if (opts_.id_source != DeviceIdSource::topic) {
      std::string_view key;
      if (const Json* v = find_first(obj, {"device_id", "mac_address"}, &key)) {
        if (v->is_string()) {
          payload_id = v->get_ref<const Json::string_t&>();
        } else if (v->is_number_integer()) {
          payload_id = v->dump();  // IoT-Shield style numeric ids
        } else {
          return reject(reason::invalid_device_id,
                        std::string(key) + " is a " + v->type_name() + ", not a string");
        }
        has_payload_id = true;
        used_key = key;
      }
    }
    return detail::choose_device_id(has_payload_id ? &payload_id : nullptr, used_key, in_, opts_,
                                    notes_);
  }

  TimeInfo resolve_time(const Json* v) const {
    TimeInfo t{in_.received_at_ms, TimeStatus::none, nullptr};
    if (v == nullptr) return t;
    std::optional<std::int64_t> ms;
    bool parsed_number = false;  // a finite number: out of range means skew, not garbage
    switch (v->type()) {
      case Json::value_t::number_integer: {
        const auto i = v->get_ref<const Json::number_integer_t&>();
        parsed_number = true;
        ms = time::epoch_integer_to_ms(i);
        break;
      }
      case Json::value_t::number_unsigned: {
        const auto u = v->get_ref<const Json::number_unsigned_t&>();
        parsed_number = true;
        if (u <= static_cast<std::uint64_t>(INT64_MAX)) {
          ms = time::epoch_integer_to_ms(static_cast<std::int64_t>(u));
        }
        break;
      }
      case Json::value_t::number_float:
        parsed_number = true;
        ms = time::epoch_number_to_ms(v->get_ref<const Json::number_float_t&>());
        break;
      case Json::value_t::string: {
        const auto& s = v->get_ref<const Json::string_t&>();
        ms = time::parse_iso8601_ms(s);
        double n = 0;
        if (!ms && scan::parse_epoch_string(s, n)) {
          parsed_number = true;
          ms = time::epoch_number_to_ms(n);
        }
        break;
      }
      default: break;
    }
    const bool sentinel = rewritten_ && v->is_string() &&
                          v->get_ref<const Json::string_t&>() == scan::kNonFiniteSentinel;
    t.status = detail::time_status(ms, parsed_number, sentinel, in_, opts_);
    if (t.status == TimeStatus::device) {
      t.ts_ms = *ms;
      return t;
    }
    t.original = sentinel ? nullptr : v;
    return t;
  }

  static const Json* dedup_source(const Json& obj) {
    if (const Json* m = find_non_null(obj, "msg_id")) return m;
    return find_non_null(obj, "seq");
  }

  Status emit(const std::string& id, const TimeInfo& t, Metrics metrics,
              const std::vector<ExtraField>& extra, const Json* dedup_src) {
    if (auto rej = detail::finish_metrics(metrics, opts_)) return tl::unexpected(std::move(*rej));
    Reading r;
    r.device_id = id;
    r.ts_ms = t.ts_ms;
    r.received_at_ms = in_.received_at_ms;
    r.has_device_time = t.status == TimeStatus::device;
    if (t.status == TimeStatus::skewed) ++notes_.clock_skew;
    if (t.status == TimeStatus::bad) ++notes_.bad_timestamp;
    if (r.has_device_time) r.dedup_key = dedup_key(metrics, dedup_src);
    r.metrics = std::move(metrics);
    r.extra_json = build_extra(extra, t.original);
    readings_.push_back(std::move(r));
    return {};
  }

  // docs/architecture.md §5: hash of msg_id/seq (JSON text) and the canonical metrics.
  std::int64_t dedup_key(const Metrics& metrics, const Json* dedup_src) {
    const std::string src =
        dedup_src ? dedup_src->dump(-1, ' ', false, Json::error_handler_t::replace) : std::string();
    return detail::dedup_hash(src, metrics, scratch_);
  }

  std::string build_extra(const std::vector<ExtraField>& fields, const Json* original_ts) const {
    if (fields.empty() && original_ts == nullptr) return {};
    std::vector<ExtraEntry> entries;
    entries.reserve(fields.size() + 1);
    auto add = [&](std::string_view key, const Json& value, bool keep) {
      std::string text = Json(key).dump(-1, ' ', false, Json::error_handler_t::replace);
      text.push_back(':');
      text += value.dump(-1, ' ', false, Json::error_handler_t::replace);
      entries.push_back({key, std::move(text), keep});
    };
    for (const ExtraField& f : fields) add(f.key, *f.value, false);
    if (original_ts) add("original_ts", *original_ts, true);
    return detail::assemble_extra(entries, opts_.max_extra_bytes);
  }

  const DecodeInput& in_;
  const DecoderOptions& opts_;
  const bool rewritten_;
  DecodeNotes notes_;
  std::vector<Reading> readings_;
  std::string scratch_;
};

}  // namespace

namespace detail {

tl::expected<Decoded, Rejection> decode_dom(const DecodeInput& in, const DecoderOptions& opts) {
  try {
    if (in.payload.size() > opts.max_payload_bytes) {
      return reject(reason::payload_too_large, std::to_string(in.payload.size()) +
                                                   " bytes, max " +
                                                   std::to_string(opts.max_payload_bytes));
    }
    if (in.payload.empty()) return reject(reason::not_json, "empty payload");
    auto parsed = parse_payload(in.payload);
    if (!parsed) return tl::unexpected(std::move(parsed.error()));
    Decoder d(in, opts, parsed->rewritten);
    return d.run(parsed->doc);
  } catch (const std::exception& e) {
    // Not expected on any input; a last line of defence for the ingest thread.
    return reject(reason::not_json, std::string("decoder error: ") + e.what());
  } catch (...) {
    return reject(reason::not_json, "decoder error");
  }
}

}  // namespace detail

tl::expected<Decoded, Rejection> decode(const DecodeInput& in, const DecoderOptions& opts) {
  // The common flat payload goes straight from bytes to a Reading; the rest (and whatever
  // the direct path declines) through nlohmann's document.
  if (!in.payload.empty() && in.payload.size() <= opts.max_payload_bytes) {
    try {
      if (auto direct = detail::decode_direct(in, opts)) return std::move(*direct);
    } catch (const std::exception&) {
      // Only allocation failure; the DOM path below reports it.
    }
  }
  return detail::decode_dom(in, opts);
}

std::unordered_map<std::string, std::string> parse_aliases(std::string_view csv) {
  std::unordered_map<std::string, std::string> out;
  if (trim(csv).empty()) return out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = csv.find(',', start);
    const std::string_view entry =
        trim(csv.substr(start, comma == std::string_view::npos ? csv.npos : comma - start));
    const std::size_t colon = entry.find(':');
    const std::string_view from = trim(entry.substr(0, colon));
    const std::string_view to =
        colon == std::string_view::npos ? std::string_view{} : trim(entry.substr(colon + 1));
    if (colon == std::string_view::npos || !valid_metric_name(from) || !valid_metric_name(to)) {
      throw std::invalid_argument("invalid alias '" + std::string(entry) +
                                  "': expected name:canonical_name, names of [A-Za-z0-9_.-]");
    }
    if (!out.emplace(std::string(from), std::string(to)).second) {
      throw std::invalid_argument("alias '" + std::string(from) + "' is defined twice");
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace iotd::pipeline
