// MQTT topic templates (docs/architecture.md §6): "sensors/{device_id}/data" subscribes to "sensors/+/data"
// and takes the device id from that level. A level may carry a literal prefix/suffix around
// the placeholder ("f2-{device_id}"); a template whose only wildcard is one '+' takes the id
// from that level; a trailing '#' matches the rest. Each template names the kind of message
// its topics carry (telemetry, or a device's command ack). Pure; immutable after construction.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iotd::pipeline {

enum class MessageKind { telemetry, command_ack };

class TopicTemplate {
 public:
  // Throws std::invalid_argument with a readable message for a malformed template.
  explicit TopicTemplate(std::string_view text, MessageKind kind = MessageKind::telemetry);

  const std::string& text() const { return text_; }
  MessageKind kind() const { return kind_; }
  // The MQTT subscription filter ("{device_id}" levels become '+').
  const std::string& filter() const { return filter_; }
  // nullopt: topic does not match. Otherwise the device id from the topic ("" when the
  // template names no id level).
  std::optional<std::string> match(std::string_view topic) const;

 private:
  struct Level {
    enum class Kind { literal, id, plus, hash } kind;
    std::string literal;  // literal text, or the prefix of an id level
    std::string suffix;   // suffix of an id level
  };
  std::string text_;
  MessageKind kind_;
  std::string filter_;
  std::vector<Level> levels_;
  int id_level_ = -1;
};

// Parses a comma-separated list; throws std::invalid_argument naming the bad entry.
std::vector<TopicTemplate> parse_topic_templates(std::string_view csv,
                                                 MessageKind kind = MessageKind::telemetry);

// First matching template's device id; nullopt when no template matches.
std::optional<std::string> match_topic(const std::vector<TopicTemplate>& templates,
                                       std::string_view topic);

struct TopicMatch {
  MessageKind kind;
  std::string device_id;  // "" when the template names no id level
};

// The first matching template's kind and device id; nullopt when none matches.
std::optional<TopicMatch> classify_topic(const std::vector<TopicTemplate>& templates,
                                         std::string_view topic);

}  // namespace iotd::pipeline
