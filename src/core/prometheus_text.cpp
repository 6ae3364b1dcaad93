#include "iotd/core/prometheus_text.hpp"

#include <charconv>
#include <cmath>

namespace iotd::metrics {
namespace {

std::string_view unit_suffix(Unit u) {
  switch (u) {
    case Unit::seconds: return "_seconds";
    case Unit::unix_ms: return "_timestamp_seconds";
    case Unit::bytes: return "_bytes";
    case Unit::none: break;
  }
  return "";
}

void append_number(std::string& out, double v) { out += prometheus_float(v); }

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote) out += "\\\"";
    else out += c;
  }
}

class PrometheusVisitor final : public MetricVisitor {
 public:
  explicit PrometheusVisitor(std::string_view prefix) : prefix_(prefix) {}

  void counter(const Info& info, std::uint64_t value) override {
    auto name = family(info, "counter", "_total");
    out_ += name;
    out_ += ' ';
    append_number(out_, value);
    out_ += '\n';
  }

  void gauge(const Info& info, std::int64_t value) override {
    auto name = family(info, "gauge", "");
    out_ += name;
    out_ += ' ';
    if (info.unit == Unit::unix_ms)
      append_number(out_, static_cast<double>(value) / 1000.0);
    else
      append_number(out_, static_cast<double>(value));
    out_ += '\n';
  }

  void histogram(const Info& info, const HistogramSnapshot& h) override {
    auto name = family(info, "histogram", "");
    series(name, "", h);
  }

  void labelled_histogram(const Info& info, std::span<const std::string_view> label_names,
                          std::span<const LabelledHistogram> all) override {
    auto name = family(info, "histogram", "");
    for (const auto& s : all) {
      std::string labels;  // route="/api/v1/x",
      for (std::size_t i = 0; i < label_names.size() && i < s.values.size(); ++i) {
        labels += label_names[i];
        labels += "=\"";
        append_escaped(labels, s.values[i], true);
        labels += "\",";
      }
      series(name, labels, s.histogram);
    }
  }

  void labelled_counter(const Info& info, std::span<const std::string_view> label_names,
                        std::span<const LabelledSample> samples) override {
    auto name = family(info, "counter", "_total");
    for (const auto& s : samples) {
      out_ += name;
      out_ += '{';
      for (std::size_t i = 0; i < label_names.size() && i < s.values.size(); ++i) {
        if (i > 0) out_ += ',';
        out_ += label_names[i];
        out_ += "=\"";
        append_escaped(out_, s.values[i], true);
        out_ += '"';
      }
      out_ += "} ";
      append_number(out_, s.value);
      out_ += '\n';
    }
  }

  std::string take() { return std::move(out_); }

 private:
  // One histogram's samples; `labels` is empty or `k="v",` pairs each ending in a comma.
  void series(const std::string& name, std::string_view labels, const HistogramSnapshot& h) {
    for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
      out_ += name;
      out_ += "_bucket{";
      out_ += labels;
      out_ += "le=\"";
      append_number(out_, i < h.bounds.size() ? h.bounds[i] : INFINITY);
      out_ += "\"} ";
      append_number(out_, h.cumulative[i]);
      out_ += '\n';
    }
    std::string_view plain = labels.empty() ? labels : labels.substr(0, labels.size() - 1);
    for (std::string_view part : {std::string_view("_sum"), std::string_view("_count")}) {
      out_ += name;
      out_ += part;
      if (!plain.empty()) {
        out_ += '{';
        out_ += plain;
        out_ += '}';
      }
      out_ += ' ';
      if (part == "_sum")
        append_number(out_, h.sum);
      else
        append_number(out_, h.count);
      out_ += '\n';
    }
  }

  // Writes the HELP and TYPE lines; returns the sample name.
  std::string family(const Info& info, std::string_view type, std::string_view type_suffix) {
    std::string name(prefix_);
    name += info.name;
    name += unit_suffix(info.unit);
    name += type_suffix;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_escaped(out_, info.help, false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
    return name;
  }

  std::string_view prefix_;
  std::string out_;
};

}  // namespace

std::string prometheus_float(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Plain notation for the usual magnitudes (to_chars' shortest form prefers "5e-04").
  const double a = std::fabs(v);
  const auto fmt = a == 0 || (a >= 1e-4 && a < 1e15) ? std::chars_format::fixed : std::chars_format::general;
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, fmt);
  return std::string(buf, r.ptr);
}

std::string prometheus_text(const Registry& registry, std::string_view prefix) {
  PrometheusVisitor v(prefix);
  registry.visit(v);
  return v.take();
}

}  // namespace iotd::metrics
