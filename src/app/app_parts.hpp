// Start-up parts that App and `iotd replay-journal` (replay_journal.cpp) share: each turns
// settings into the options of one module and throws config::ConfigError naming the setting.
#pragma once

#include <vector>

#include "iotd/config/config.hpp"
#include "iotd/pipeline/decoder.hpp"
#include "iotd/pipeline/topic.hpp"
#include "iotd/storage/database.hpp"

namespace iotd::app::detail {

pipeline::DecoderOptions decoder_options_of(const config::Config& c);
std::vector<pipeline::TopicTemplate> topic_templates_of(const config::Config& c);
storage::ConnectionSpec connection_spec_of(const config::Config& c);

}  // namespace iotd::app::detail
