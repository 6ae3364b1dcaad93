// Which instance a journal directory belongs to (issue 13, docs/scaling.md §2): a file
// "instance" in the directory holds the IOTD_INSTANCE_ID that first used it. Its journal's
// frames are checkpointed under that id, so another instance must not run on it; the
// operator replays a dead instance's journal with `iotd replay-journal` instead.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace iotd::journal {

// A journal directory recorded for another instance id. main() exits 2 on it.
class JournalOwnerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr const char* kInstanceFile = "instance";

// The instance id recorded in `dir` (trimmed); nullopt when the directory or file is absent.
// Throws std::runtime_error when the file exists but cannot be read.
std::optional<std::string> journal_owner(const std::filesystem::path& dir);

// Throws JournalOwnerError (with what to do) when `dir` is recorded for an instance other
// than `instance_id`. A directory without the file (new, or from before the file existed)
// passes.
void check_journal_owner(const std::filesystem::path& dir, const std::string& instance_id);

// Records `instance_id` in `dir` (written to a temporary file, fsynced and renamed) unless an
// id is already recorded there (`replace`: unless that id is already recorded). Throws
// std::runtime_error when the file cannot be written.
void record_journal_owner(const std::filesystem::path& dir, const std::string& instance_id,
                          bool replace = false);

}  // namespace iotd::journal
