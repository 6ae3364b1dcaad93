// The journal directory's owner file (include/iotd/journal/journal_owner.hpp).
#include "iotd/journal/journal_owner.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace iotd::journal {

namespace fs = std::filesystem;

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

void fsync_path(const fs::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::optional<std::string> journal_owner(const fs::path& dir) {
  const fs::path file = dir / kInstanceFile;
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file.string() + ": " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return trimmed(s.str());
}

void check_journal_owner(const fs::path& dir, const std::string& instance_id) {
  const auto owner = journal_owner(dir);
  if (!owner || *owner == instance_id) return;
  throw JournalOwnerError("the journal directory " + dir.string() + " belongs to instance '" + *owner +
                          "' (its file '" + kInstanceFile + "'), not to this instance '" + instance_id +
                          "' (IOTD_INSTANCE_ID): give each instance its own IOTD_JOURNAL_DIR; to commit "
                          "a dead instance's journal from here, run `iotd replay-journal --journal-dir " +
                          dir.string() + "` (docs/scaling.md §2)");
}

void record_journal_owner(const fs::path& dir, const std::string& instance_id, bool replace) {
  const auto owner = journal_owner(dir);
  if (owner && (!replace || *owner == instance_id)) return;
  const fs::path file = dir / kInstanceFile;
  const fs::path tmp = dir / (std::string(kInstanceFile) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << instance_id << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  }
  fsync_path(tmp, O_RDONLY);
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) throw std::runtime_error("cannot create " + file.string() + ": " + ec.message());
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace iotd::journal
