#include "ingest_body.hpp"

#include <nlohmann/json.hpp>

namespace iotd::http::api {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

ApiError not_json(std::string message) { return ApiError{400, "not_json", std::move(message)}; }

}  // namespace

bool blank(std::string_view body) { return trim(body).empty(); }

tl::expected<std::vector<std::string_view>, ApiError> split_json_array(std::string_view body,
                                                                       std::size_t max_items) {
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);  // a UTF-8 byte order mark
  body = trim(body);
  if (body.empty()) return tl::unexpected(not_json("the body is empty: send a JSON array of messages"));
  if (body.front() != '[')
    return tl::unexpected(ApiError{400, "not_an_array",
                                   "the body must be a JSON array of messages, e.g. [{\"device_id\": "
                                   "\"esp-1\", \"temperature\": 21.5}]"});
  std::vector<std::string_view> items;
  std::string open;  // the brackets open inside the current element
  bool in_string = false;
  std::size_t start = 1;
  for (std::size_t i = 1; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      open.push_back(c);
    } else if (c == '}' || c == ']') {
      if (!open.empty()) {
        if ((c == '}') != (open.back() == '{'))
          return tl::unexpected(not_json("mismatched bracket at byte " + std::to_string(i)));
        open.pop_back();
        continue;
      }
      if (c == '}') return tl::unexpected(not_json("unexpected '}' at byte " + std::to_string(i)));
      // The closing bracket of the array.
      auto last = trim(body.substr(start, i - start));
      if (last.empty() && !items.empty())
        return tl::unexpected(not_json("a trailing comma before byte " + std::to_string(i)));
      if (!last.empty()) items.push_back(last);
      if (items.size() > max_items) break;
      if (i + 1 != body.size())
        return tl::unexpected(not_json("unexpected bytes after the array at byte " + std::to_string(i + 1)));
      return items;
    } else if (c == ',' && open.empty()) {
      auto item = trim(body.substr(start, i - start));
      if (item.empty()) return tl::unexpected(not_json("an empty element before byte " + std::to_string(i)));
      items.push_back(item);
      if (items.size() > max_items) break;
      start = i + 1;
    }
  }
  if (items.size() > max_items)
    return tl::unexpected(ApiError{413, "too_many_items",
                                   "a batch holds at most " + std::to_string(max_items) +
                                       " messages; split it"});
  return tl::unexpected(not_json(in_string ? "an unterminated string" : "the array is not closed"));
}

std::optional<std::string> other_device(std::string_view payload, std::string_view device) {
  const auto j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  auto named = [&](const nlohmann::json& o) -> std::optional<std::string> {
    if (!o.is_object()) return std::nullopt;
    auto it = o.find("device_id");
    if (it == o.end() || !it->is_string()) return std::nullopt;
    const auto& id = it->get_ref<const std::string&>();
    if (id == device) return std::nullopt;
    return id;
  };
  if (j.is_array()) {
    for (const auto& e : j)
      if (auto other = named(e)) return other;
    return std::nullopt;
  }
  return named(j);
}

}  // namespace iotd::http::api
