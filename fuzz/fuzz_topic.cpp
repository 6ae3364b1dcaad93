// Fuzz target: MQTT topic templates and the matcher (include/iotd/pipeline/topic.hpp).
// Input: "<templates, comma-separated>\n<topic>\n<topic>...". Checks, beyond "no crash, no
// UB": a malformed template list throws std::invalid_argument (nothing else); a device id
// taken from a topic is a substring of that topic's level; classify_topic agrees with
// match_topic; a topic made from a template's text is matched by it.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "iotd/pipeline/topic.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_topic: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace iotd::pipeline;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nl = in.find('\n');
  const std::string_view csv = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);

  std::vector<TopicTemplate> templates;
  try {
    templates = parse_topic_templates(csv, size % 2 ? MessageKind::command_ack : MessageKind::telemetry);
  } catch (const std::invalid_argument&) {
    return 0;
  }

  // A topic made from the template's own text (placeholder and '+' filled with an id, '#'
  // with one level, the shared-subscription prefix dropped) is matched by it, with that id.
  for (const auto& t : templates) {
    std::string_view text = t.text();
    if (text.rfind("$share/", 0) == 0) text.remove_prefix(text.find('/', 7) + 1);
    std::string topic;
    std::size_t start = 0;
    while (start <= text.size()) {
      const std::size_t slash = std::min(text.find('/', start), text.size());
      std::string level(text.substr(start, slash - start));
      if (level == "+") level = "dev-1";
      if (level == "#") level = "x";
      if (const auto at = level.find("{device_id}"); at != std::string::npos) level.replace(at, 11, "dev-1");
      if (!topic.empty() || start > 0) topic += '/';
      topic += level;
      start = slash + 1;
    }
    if (topic.empty() || topic.front() == '$') continue;  // '$' topics: MQTT's wildcard rule
    if (!t.match(topic)) fail("a template does not match a topic made from it");
  }

  while (!in.empty()) {
    const auto end = in.find('\n');
    const std::string_view topic = in.substr(0, end);
    in = end == std::string_view::npos ? std::string_view{} : in.substr(end + 1);
    const auto id = match_topic(templates, topic);
    const auto cls = classify_topic(templates, topic);
    if (id.has_value() != cls.has_value() || (id && *id != cls->device_id)) fail("classify_topic and match_topic disagree");
    if (id && !id->empty() && topic.find(*id) == std::string_view::npos) fail("device id not taken from the topic");
  }
  return 0;
}
