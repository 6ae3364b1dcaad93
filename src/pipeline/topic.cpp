// MQTT topic templates (see include/iotd/pipeline/topic.hpp). Pure; immutable after
// construction, so a TopicTemplate may be shared by threads.
#include "iotd/pipeline/topic.hpp"

#include <algorithm>
#include <stdexcept>

namespace iotd::pipeline {

namespace {

constexpr std::string_view kPlaceholder = "{device_id}";

[[noreturn]] void fail(std::string_view text, std::string_view why) {
  std::string msg = "invalid MQTT topic template '";
  msg.append(text);
  msg.append("': ");
  msg.append(why);
  throw std::invalid_argument(msg);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(level) for each '/'-separated level, including empty ones.
template <typename F>
void for_each_level(std::string_view s, F&& f) {
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      f(s.substr(start));
      return;
    }
    f(s.substr(start, slash - start));
    start = slash + 1;
  }
}

}  // namespace

TopicTemplate::TopicTemplate(std::string_view text, MessageKind kind) : text_(text), kind_(kind) {
  if (text.empty()) fail(text, "empty template");
  // A shared subscription ("$share/<group>/sensors/{device_id}/data", docs/scaling.md §2): the
  // broker delivers messages under their real topic, so only the part after the group is matched.
  std::string_view share_prefix;
  std::string_view body = text;
  if (body.rfind("$share/", 0) == 0) {
    const auto slash = body.find('/', 7);
    if (slash == std::string_view::npos || slash == 7 || slash + 1 == body.size())
      fail(text, "a shared subscription needs a group and a topic: $share/<group>/<template>");
    share_prefix = body.substr(0, slash + 1);
    body = body.substr(slash + 1);
  }
  int placeholders = 0;
  int pluses = 0;
  int plus_level = -1;
  const auto level_count = static_cast<std::size_t>(std::count(body.begin(), body.end(), '/')) + 1;
  levels_.reserve(level_count);
  for_each_level(body, [&](std::string_view level) {
    const bool is_last = levels_.size() + 1 == level_count;
    if (level.empty()) fail(text, "empty topic level");
    if (level == "#") {
      if (!is_last) fail(text, "'#' is allowed only as the last level");
      levels_.push_back({Level::Kind::hash, {}, {}});
      return;
    }
    if (level == "+") {
      ++pluses;
      plus_level = static_cast<int>(levels_.size());
      levels_.push_back({Level::Kind::plus, {}, {}});
      return;
    }
    if (level.find_first_of("+#") != std::string_view::npos)
      fail(text, "'+' and '#' must fill a whole level (use {device_id} for a prefixed id)");
    const std::size_t at = level.find(kPlaceholder);
    if (at != std::string_view::npos) {
      if (++placeholders > 1) fail(text, "more than one {device_id} placeholder");
      const std::string_view prefix = level.substr(0, at);
      const std::string_view suffix = level.substr(at + kPlaceholder.size());
      if (prefix.find_first_of("{}") != std::string_view::npos ||
          suffix.find_first_of("{}") != std::string_view::npos) {
        fail(text, suffix.find(kPlaceholder) != std::string_view::npos
                       ? "more than one {device_id} placeholder"
                       : "unknown placeholder (only {device_id} is supported)");
      }
      id_level_ = static_cast<int>(levels_.size());
      levels_.push_back({Level::Kind::id, std::string(prefix), std::string(suffix)});
      return;
    }
    if (level.find_first_of("{}") != std::string_view::npos)
      fail(text, "unknown placeholder (only {device_id} is supported)");
    levels_.push_back({Level::Kind::literal, std::string(level), {}});
  });

  if (id_level_ < 0 && pluses > 0) {
    if (pluses > 1)
      fail(text, "several '+' levels and no {device_id}: say which level holds the id");
    // Seed style "sensors/+/data": the single '+' is the id level.
    id_level_ = plus_level;
    levels_[static_cast<std::size_t>(plus_level)].kind = Level::Kind::id;
  }

  filter_.reserve(text_.size());
  filter_ += share_prefix;
  for (std::size_t i = 0; i < levels_.size(); ++i) {
    if (i > 0) filter_.push_back('/');
    switch (levels_[i].kind) {
      case Level::Kind::literal: filter_ += levels_[i].literal; break;
      case Level::Kind::id:
      case Level::Kind::plus: filter_.push_back('+'); break;
      case Level::Kind::hash: filter_.push_back('#'); break;
    }
  }
}

std::optional<std::string> TopicTemplate::match(std::string_view topic) const {
  // MQTT: wildcards in the first level never match topics starting with '$' ($SYS/...).
  if (!topic.empty() && topic.front() == '$' && !levels_.empty() &&
      levels_.front().kind != Level::Kind::literal) {
    return std::nullopt;
  }
  std::string_view id;
  std::size_t start = 0;
  for (std::size_t i = 0; i < levels_.size(); ++i) {
    const Level& lv = levels_[i];
    if (lv.kind == Level::Kind::hash) return std::string(id);  // matches the rest, even none
    if (start > topic.size()) return std::nullopt;              // topic has fewer levels
    const std::size_t slash = topic.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? topic.size() : slash;
    const std::string_view level = topic.substr(start, end - start);
    start = end + 1;  // past the end (size + 1) once the last level is consumed
    switch (lv.kind) {
      case Level::Kind::literal:
        if (level != lv.literal) return std::nullopt;
        break;
      case Level::Kind::plus: break;
      case Level::Kind::id: {
        const std::size_t fixed = lv.literal.size() + lv.suffix.size();
        if (level.size() <= fixed || level.substr(0, lv.literal.size()) != lv.literal ||
            level.substr(level.size() - lv.suffix.size()) != lv.suffix) {
          return std::nullopt;  // an empty id never matches
        }
        id = level.substr(lv.literal.size(), level.size() - fixed);
        break;
      }
      case Level::Kind::hash: break;  // handled above
    }
  }
  if (start <= topic.size()) return std::nullopt;  // topic has more levels
  return std::string(id);
}

std::vector<TopicTemplate> parse_topic_templates(std::string_view csv, MessageKind kind) {
  std::vector<TopicTemplate> out;
  if (trim(csv).empty()) return out;
  std::size_t start = 0;
  while (start <= csv.size()) {
    const std::size_t comma = csv.find(',', start);
    const std::size_t end = comma == std::string_view::npos ? csv.size() : comma;
    const std::string_view entry = trim(csv.substr(start, end - start));
    if (entry.empty()) {
      throw std::invalid_argument("empty MQTT topic template in list '" + std::string(csv) + "'");
    }
    out.emplace_back(entry, kind);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::optional<std::string> match_topic(const std::vector<TopicTemplate>& templates,
                                       std::string_view topic) {
  for (const TopicTemplate& t : templates) {
    if (auto id = t.match(topic)) return id;
  }
  return std::nullopt;
}

std::optional<TopicMatch> classify_topic(const std::vector<TopicTemplate>& templates,
                                         std::string_view topic) {
  for (const TopicTemplate& t : templates) {
    if (auto id = t.match(topic)) return TopicMatch{t.kind(), std::move(*id)};
  }
  return std::nullopt;
}

}  // namespace iotd::pipeline
