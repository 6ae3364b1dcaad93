// Append-only ingest journal (docs/architecture.md §4). On disk, in opts.dir:
//   LOCK                 flock'ed (exclusive) while a Journal is open
//   journal.uuid         the journal's identity, written once
//   <20-digit seq>.seg   segments named by their first seq; *.bad are quarantined ones
#include "iotd/journal/journal.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <uuid/uuid.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "iotd/core/fd.hpp"
#include "iotd/core/hash.hpp"
#include "iotd/core/log.hpp"
#include "iotd/core/thread_name.hpp"

namespace iotd::journal {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Segment header: magic[8] | version u32 | header size u32 | uuid[16] | first seq u64 |
// XXH3 of the preceding 40 bytes u64.
constexpr char kSegMagic[8] = {'I', 'O', 'T', 'D', 'J', 'R', 'N', '1'};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kSegHeaderSize = 48;
// Record: magic u32 | len u32 (bytes after it) | XXH3 of the bytes after the checksum u64 |
// seq u64 | received_at i64 | flags u8 | topic_len u16 | topic | payload.
constexpr std::uint32_t kRecordMagic = 0x31524649;  // "IFR1" on disk
constexpr std::size_t kRecordHeaderSize = 35;
constexpr std::size_t kMaxTopic = 65535;            // MQTT's topic length limit
constexpr std::size_t kMaxPayload = 256u << 20;     // MQTT's packet size limit
constexpr std::uint64_t kMaxRecordLen = kRecordHeaderSize - 8 + kMaxTopic + kMaxPayload;
constexpr std::size_t kReadBlock = 256u << 10;      // reader: one pread per block, not per frame
constexpr std::size_t kScanBlock = 1u << 20;        // start-up scan
constexpr const char* kIdFile = "journal.uuid";
constexpr const char* kLockFile = "LOCK";

void put_u16(char* p, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
template <typename T>
T get_le(const char* p) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= T(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string errno_text(int err) { return std::system_category().message(err); }

bool pwrite_all(int fd, const char* p, std::size_t n, std::uint64_t off, std::size_t& done) {
  done = 0;
  while (done < n) {
    const ssize_t r = ::pwrite(fd, p + done, n - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) {
      errno = EIO;
      return false;
    }
    done += static_cast<std::size_t>(r);
  }
  return true;
}

bool pread_all(int fd, char* p, std::size_t n, std::uint64_t off) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) return false;
    done += static_cast<std::size_t>(r);
  }
  return true;
}

std::string segment_name(std::uint64_t first_seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.seg", static_cast<unsigned long long>(first_seq));
  return buf;
}

// "NNNNNNNNNNNNNNNNNNNN.seg" → first seq; anything else → false.
bool parse_segment_name(const std::string& name, std::uint64_t& first_seq) {
  if (name.size() != 24 || name.compare(20, 4, ".seg") != 0) return false;
  std::uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  first_seq = v;
  return true;
}

void encode_segment_header(char* h, const unsigned char* uuid, std::uint64_t first_seq) {
  std::memcpy(h, kSegMagic, 8);
  put_u32(h + 8, kFormatVersion);
  put_u32(h + 12, kSegHeaderSize);
  std::memcpy(h + 16, uuid, 16);
  put_u64(h + 32, first_seq);
  put_u64(h + 40, XXH3_64bits(h, 40));
}

// nullptr when valid, else why not.
const char* check_segment_header(const char* h, const unsigned char* uuid, std::uint64_t first_seq) {
  if (std::memcmp(h, kSegMagic, 8) != 0) return "bad segment magic";
  if (get_le<std::uint64_t>(h + 40) != XXH3_64bits(h, 40)) return "bad header checksum";
  if (get_le<std::uint32_t>(h + 8) != kFormatVersion) return "unknown format version";
  if (get_le<std::uint32_t>(h + 12) != kSegHeaderSize) return "unexpected header size";
  if (uuid != nullptr && std::memcmp(h + 16, uuid, 16) != 0) return "belongs to another journal (UUID)";
  if (get_le<std::uint64_t>(h + 32) != first_seq) return "first seq does not match the file name";
  return nullptr;
}

// Sequential reads of one file in large blocks; the bytes at the cursor stay valid until the
// next ensure()/reset().
class BlockReader {
 public:
  explicit BlockReader(std::size_t block) : block_(block) {}

  void reset(int fd, std::uint64_t offset) {
    fd_ = fd;
    base_ = offset;
    pos_ = len_ = 0;
    if (buf_.size() > 4 * block_) buf_ = std::vector<char>();  // after an outsized frame
  }

  // Makes n bytes at the cursor available, reading no further than `limit`. False when the
  // file (or limit) ends first or on an I/O error (error() then says which).
  bool ensure(std::size_t n, std::uint64_t limit) {
    if (len_ - pos_ >= n) return true;
    if (pos_ > 0) {
      std::memmove(buf_.data(), buf_.data() + pos_, len_ - pos_);
      base_ += pos_;
      len_ -= pos_;
      pos_ = 0;
    }
    if (buf_.size() < std::max(n, block_)) buf_.resize(std::max(n, block_));
    while (len_ < n) {
      const std::uint64_t off = base_ + len_;
      if (off >= limit) return false;
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size() - len_, limit - off));
      const ssize_t r = ::pread(fd_, buf_.data() + len_, want, static_cast<off_t>(off));
      if (r < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        return false;
      }
      if (r == 0) return false;
      len_ += static_cast<std::size_t>(r);
    }
    return true;
  }
  const char* data() const { return buf_.data() + pos_; }
  void advance(std::size_t n) { pos_ += n; }
  std::uint64_t offset() const { return base_ + pos_; }
  int error() const { return error_; }

 private:
  std::size_t block_;
  int fd_ = -1;
  std::vector<char> buf_;
  std::uint64_t base_ = 0;  // file offset of buf_[0]
  std::size_t pos_ = 0;
  std::size_t len_ = 0;
  int error_ = 0;
};

struct Record {
  std::uint64_t seq = 0;
  std::int64_t received_at_ms = 0;
  std::uint8_t flags = 0;
  std::string_view topic;
  std::string_view payload;
  std::size_t size = 0;  // whole record on disk
};

enum class Parse { ok, truncated, bad };

// Parses and verifies the record at the cursor (does not advance). `why` is set unless ok.
Parse parse_record(BlockReader& br, std::uint64_t limit, Record& rec, const char*& why) {
  if (!br.ensure(8, limit)) {
    why = "short record header";
    return Parse::truncated;
  }
  if (get_le<std::uint32_t>(br.data()) != kRecordMagic) {
    why = "bad record magic";
    return Parse::bad;
  }
  const std::uint32_t len = get_le<std::uint32_t>(br.data() + 4);
  if (len < kRecordHeaderSize - 8 || len > kMaxRecordLen) {
    why = "bad record length";
    return Parse::bad;
  }
  const std::size_t size = std::size_t{len} + 8;
  if (!br.ensure(size, limit)) {
    why = "record extends past the end of the segment";
    return Parse::truncated;
  }
  const char* p = br.data();
  if (get_le<std::uint64_t>(p + 8) != XXH3_64bits(p + 16, size - 16)) {
    why = "bad record checksum";
    return Parse::bad;
  }
  const std::size_t topic_len = get_le<std::uint16_t>(p + 33);
  if (topic_len > size - kRecordHeaderSize) {
    why = "bad topic length";
    return Parse::bad;
  }
  rec.seq = get_le<std::uint64_t>(p + 16);
  rec.received_at_ms = static_cast<std::int64_t>(get_le<std::uint64_t>(p + 24));
  rec.flags = static_cast<std::uint8_t>(p[32]);
  rec.topic = std::string_view(p + kRecordHeaderSize, topic_len);
  rec.payload = std::string_view(p + kRecordHeaderSize + topic_len, size - kRecordHeaderSize - topic_len);
  rec.size = size;
  return Parse::ok;
}

struct ScanResult {
  std::uint64_t good_end = kSegHeaderSize;  // offset just past the last good record
  std::uint64_t frames = 0;
  const char* why = nullptr;                 // set when a bad or torn record stopped the scan
};

// Visits the segment's records in order, checking checksums and seq contiguity.
template <typename F>
ScanResult scan_segment(int fd, std::uint64_t size, std::uint64_t first_seq, F&& visit) {
  ScanResult res;
  BlockReader br(kScanBlock);
  br.reset(fd, kSegHeaderSize);
  while (br.offset() < size) {
    Record rec;
    const char* why = nullptr;
    if (parse_record(br, size, rec, why) != Parse::ok) {
      res.why = br.error() != 0 ? "read error" : why;
      break;
    }
    if (rec.seq != first_seq + res.frames) {
      res.why = "seq out of order";
      break;
    }
    visit(rec);
    ++res.frames;
    br.advance(rec.size);
    res.good_end = br.offset();
  }
  return res;
}

std::uint64_t dedup_hash(std::string& scratch, std::string_view topic, std::string_view payload) {
  scratch.assign(topic);
  scratch.push_back('\0');
  scratch.append(payload);
  return hash64(scratch);
}

// The (topic, payload) hashes of the last K appended frames.
class DedupWindow {
 public:
  explicit DedupWindow(std::size_t k) : ring_(k) { counts_.reserve(k); }
  bool contains(std::uint64_t h) const { return counts_.find(h) != counts_.end(); }
  void push(std::uint64_t h) {
    if (ring_.empty()) return;
    if (size_ == ring_.size()) {
      auto it = counts_.find(ring_[pos_]);
      if (--it->second == 0) counts_.erase(it);
    } else {
      ++size_;
    }
    ring_[pos_] = h;
    pos_ = (pos_ + 1) % ring_.size();
    ++counts_[h];
  }

 private:
  std::vector<std::uint64_t> ring_;
  std::size_t pos_ = 0;
  std::size_t size_ = 0;
  std::unordered_map<std::uint64_t, std::uint32_t> counts_;
};

// One live segment, shared by the appender, the reader and checkpoint().
struct Segment {
  Segment(std::uint64_t first, fs::path p, std::uint64_t size, std::uint64_t last)
      : first_seq(first), path(std::move(p)), end(size), last_seq(last) {}
  const std::uint64_t first_seq;
  const fs::path path;
  // Bytes of complete, published records. Readers never look past it: bytes beyond may be
  // a write in progress or a failed one that the next append overwrites.
  std::atomic<std::uint64_t> end;
  std::atomic<std::uint64_t> last_seq;  // first_seq - 1 while empty; final once sealed
  // Set (release) after the next segment is in the registry: no more records will come.
  std::atomic<bool> sealed{false};
};

}  // namespace

struct Journal::Impl {
  explicit Impl(JournalOptions o);
  ~Impl();

  AppendResult append(std::string_view topic, std::string_view payload, std::int64_t received_at_ms,
                      std::uint8_t flags);
  void seek_after(std::uint64_t seq);
  std::size_t read(std::vector<Frame>& out, std::size_t max_frames, std::size_t max_bytes,
                   std::chrono::milliseconds wait);
  void checkpoint(std::uint64_t seq);
  void release_through(std::uint64_t prev);
  void skip_past(std::uint64_t seq);
  void wake();
  void sync();

  // start-up
  void lock_directory();
  void load_identity(const std::vector<std::pair<std::uint64_t, fs::path>>& files);
  void recover(const std::vector<std::pair<std::uint64_t, fs::path>>& files);
  void rebuild_window(const std::vector<std::pair<std::shared_ptr<Segment>, std::uint64_t>>& live);
  void quarantine(const fs::path& path, const std::string& why);
  void fsync_dir();
  void count_quarantined();

  // appender (append_mu held)
  bool roll(std::uint64_t first_seq);
  void note_failure(const char* what, int err);

  // reader (reader thread only)
  std::size_t gather(std::vector<Frame>& out, std::size_t max_frames, std::size_t max_bytes);
  void reader_open(std::shared_ptr<Segment> seg);
  void reader_error(const std::string& what);

  void sync_loop(std::stop_token st);

  JournalOptions opts;
  Fd dir_fd;
  Fd lock_fd;
  unsigned char uuid_bin[16] = {};
  std::string uuid_text;
  RecoveryReport report;  // written by the constructor only

  mutable std::mutex seg_mu;
  std::map<std::uint64_t, std::shared_ptr<Segment>> segments;  // guarded by seg_mu; never empty

  std::mutex append_mu;  // the appender state below
  std::shared_ptr<Segment> active;
  std::shared_ptr<Fd> active_fd;
  std::uint64_t active_end = 0;
  std::uint64_t next_seq = 1;
  std::string record_buf;
  std::string hash_buf;
  DedupWindow window;
  Clock::time_point last_failure_log{};

  std::atomic<std::uint64_t> published_seq{0};
  std::atomic<std::uint64_t> committed{0};
  std::atomic<std::uint64_t> disk_bytes{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> fsyncs{0};  // fdatasync calls on segments (append and sync)
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> read_errors{0};
  std::mutex release_mu;  // serialises segment deletion (checkpoint, release_committed)
  std::atomic<std::uint64_t> bad_files{0};  // *.bad in the directory, counted at open
  std::atomic<std::uint64_t> bad_bytes{0};
  mutable std::mutex failure_mu;
  std::string last_failure;  // guarded by failure_mu

  // The appender locks wait_mu only when the reader says it is waiting (Dekker pairing of
  // published_seq and reader_waiting, both seq_cst).
  std::mutex wait_mu;
  std::condition_variable wait_cv;
  bool wake_requested = false;  // guarded by wait_mu
  std::atomic<bool> reader_waiting{false};

  std::shared_ptr<Segment> rseg;
  Fd rfd;
  BlockReader rbuf{kReadBlock};
  bool rbad = false;         // current segment unreadable: move on once it is sealed
  bool rpositioned = false;  // seek_after's target not looked up yet
  std::uint64_t rskip = 0;   // frames at or below this seq are skipped

  std::mutex sync_mu;
  std::condition_variable_any sync_cv;
  std::shared_ptr<Fd> sync_active;                // guarded by sync_mu
  std::vector<std::shared_ptr<Fd>> sync_retired;  // guarded by sync_mu: rolled, not yet synced
  std::atomic<bool> dirty{false};
  std::jthread sync_thread;  // interval policy only; stopped first in ~Impl
};

Journal::Impl::Impl(JournalOptions o) : opts(std::move(o)), window(opts.dedup_window) {
  lock_directory();

  std::vector<std::pair<std::uint64_t, fs::path>> files;
  std::error_code ec;
  for (fs::directory_iterator it(opts.dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::uint64_t first = 0;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      fs::remove(it->path(), ec);  // a segment or identity file whose creation was cut short
      ec.clear();
    } else if (parse_segment_name(name, first)) {
      files.emplace_back(first, it->path());
    }
  }
  if (ec) throw std::runtime_error("cannot list journal directory " + opts.dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());

  load_identity(files);
  recover(files);
  count_quarantined();
  published_seq.store(next_seq - 1);
  {
    std::lock_guard lk(sync_mu);
    sync_active = active_fd;
  }
  if (opts.fsync == FsyncPolicy::interval) {
    sync_thread = std::jthread([this](std::stop_token st) {
      set_thread_name("iotd-jsync");
      sync_loop(std::move(st));
    });
  }
}

Journal::Impl::~Impl() {
  if (sync_thread.joinable()) {
    sync_thread.request_stop();
    sync_thread.join();
  }
  sync();  // clean close: every policy
  fsync_dir();
}

void Journal::Impl::lock_directory() {
  const std::string dir = opts.dir.string();
  std::error_code ec;
  fs::create_directories(opts.dir, ec);
  if (ec) throw std::runtime_error("cannot create journal directory " + dir + ": " + ec.message());
  dir_fd.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) throw std::runtime_error("cannot open journal directory " + dir + ": " + errno_text(errno));
  const std::string lock_path = (opts.dir / kLockFile).string();
  lock_fd.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock_fd) throw std::runtime_error("cannot open " + lock_path + ": " + errno_text(errno));
  if (::flock(lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      throw std::runtime_error("journal directory " + dir + " is in use by another process");
    }
    throw std::runtime_error("cannot lock journal directory " + dir + ": " + errno_text(errno));
  }
}

void Journal::Impl::fsync_dir() {
  if (dir_fd && ::fsync(dir_fd.get()) != 0) {
    spdlog::error("journal: fsync of directory {} failed: {}", opts.dir.string(), errno_text(errno));
  }
}

// The identity lives in its own file so that it survives any segment's quarantine; a
// directory without one (but with segments) adopts the newest readable segment's.
void Journal::Impl::load_identity(const std::vector<std::pair<std::uint64_t, fs::path>>& files) {
  const fs::path id_path = opts.dir / kIdFile;
  if (std::FILE* f = std::fopen(id_path.c_str(), "rb")) {
    char text[64] = {};
    const std::size_t n = std::fread(text, 1, sizeof text - 1, f);
    std::fclose(f);
    std::string s(text, n);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    if (s.size() != 36 || ::uuid_parse(s.c_str(), uuid_bin) != 0) {
      throw std::runtime_error("journal identity file " + id_path.string() +
                               " is corrupt; restore it or move the journal directory aside");
    }
    uuid_text = s;
    return;
  }

  bool adopted = false;
  for (auto it = files.rbegin(); it != files.rend() && !adopted; ++it) {
    Fd fd(::open(it->second.c_str(), O_RDONLY | O_CLOEXEC));
    char h[kSegHeaderSize];
    if (fd && pread_all(fd.get(), h, sizeof h, 0) && check_segment_header(h, nullptr, it->first) == nullptr) {
      std::memcpy(uuid_bin, h + 16, 16);
      adopted = true;
    }
  }
  if (!adopted) ::uuid_generate(uuid_bin);
  char text[37];
  ::uuid_unparse_lower(uuid_bin, text);
  uuid_text = text;
  if (adopted) spdlog::warn("journal: {} had no {}; adopted UUID {} from its segments", opts.dir.string(), kIdFile, uuid_text);

  const fs::path tmp = opts.dir / (std::string(kIdFile) + ".tmp");
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  const std::string line = uuid_text + "\n";
  std::size_t done = 0;
  if (!fd || !pwrite_all(fd.get(), line.data(), line.size(), 0, done) || ::fsync(fd.get()) != 0 ||
      ::rename(tmp.c_str(), id_path.c_str()) != 0) {
    throw std::runtime_error("cannot write " + id_path.string() + ": " + errno_text(errno));
  }
  fsync_dir();
}

void Journal::Impl::quarantine(const fs::path& path, const std::string& why) {
  fs::path bad = path;
  bad += ".bad";
  for (int i = 2; fs::exists(bad); ++i) {
    bad = path;
    bad += "." + std::to_string(i) + ".bad";
  }
  if (::rename(path.c_str(), bad.c_str()) != 0) {
    throw std::runtime_error("cannot quarantine journal segment " + path.string() + ": " + errno_text(errno));
  }
  ++report.quarantined_segments;
  spdlog::error("journal: segment {} {}; quarantined as {} (its frames will not be replayed)", path.string(),
                why, bad.filename().string());
}

void Journal::Impl::recover(const std::vector<std::pair<std::uint64_t, fs::path>>& files) {
  std::vector<std::pair<std::shared_ptr<Segment>, std::uint64_t>> live;  // with frame counts
  std::uint64_t live_next = 1;      // seq after the last live frame
  std::uint64_t trailing_next = 0;  // seqs a quarantined segment after the last live one may hold
  bool quarantined_any = false;

  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& [first, path] = files[i];
    const bool is_last = i + 1 == files.size();
    Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) {
      throw std::runtime_error("cannot open journal segment " + path.string() + ": " + errno_text(errno));
    }
    std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    // No more records than the file could hold: used to never reuse a seq a quarantined
    // segment might have handed out.
    const std::uint64_t capacity = size > kSegHeaderSize ? (size - kSegHeaderSize) / kRecordHeaderSize : 0;

    char h[kSegHeaderSize];
    const char* why = nullptr;
    if (size < kSegHeaderSize || !pread_all(fd.get(), h, sizeof h, 0)) {
      why = "has a short header";
    } else {
      why = check_segment_header(h, uuid_bin, first);
    }
    if (why == nullptr && !live.empty() && first < live_next) why = "overlaps the previous segment";
    if (why != nullptr) {
      quarantine(path, why);
      quarantined_any = true;
      trailing_next = std::max(trailing_next, first + capacity);
      continue;
    }

    const ScanResult scan = scan_segment(fd.get(), size, first, [](const Record&) {});
    if (scan.why != nullptr) {
      if (!is_last) {
        quarantine(path, std::string("has a bad frame after seq ") + std::to_string(first + scan.frames - 1) +
                             " (" + scan.why + ")");
        quarantined_any = true;
        trailing_next = std::max(trailing_next, first + capacity);
        continue;
      }
      const std::uint64_t cut = size - scan.good_end;
      if (::ftruncate(fd.get(), static_cast<off_t>(scan.good_end)) != 0 || ::fsync(fd.get()) != 0) {
        throw std::runtime_error("cannot truncate the torn tail of journal segment " + path.string() + ": " +
                                 errno_text(errno));
      }
      report.truncated_bytes += cut;
      size = scan.good_end;
      spdlog::warn("journal: truncated {} bytes of torn or corrupt tail ({}) from {} after seq {}", cut,
                   scan.why, path.filename().string(), first + scan.frames - 1);
    }
    auto seg = std::make_shared<Segment>(first, path, size, first + scan.frames - 1);
    seg->sealed.store(true);
    live.emplace_back(seg, scan.frames);
    report.frames_found += scan.frames;
    disk_bytes.fetch_add(size);
    live_next = first + scan.frames;
    trailing_next = 0;
  }
  if (quarantined_any) fsync_dir();

  for (const auto& [seg, frames] : live) segments.emplace(seg->first_seq, seg);
  rebuild_window(live);

  next_seq = std::max(live_next, trailing_next);
  const bool reuse_last = !live.empty() && live_next == next_seq && files.size() > 0 &&
                          live.back().first->path == files.back().second;
  if (reuse_last) {
    active = live.back().first;
    active->sealed.store(false);
    active_end = active->end.load();
    active_fd = std::make_shared<Fd>(::open(active->path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!*active_fd) {
      throw std::runtime_error("cannot open journal segment " + active->path.string() + ": " + errno_text(errno));
    }
  } else if (!roll(next_seq)) {
    throw std::runtime_error("cannot create a journal segment in " + opts.dir.string() + ": " + errno_text(errno));
  }
}

// The window holds the last K frames on disk, whether or not they are checkpointed.
void Journal::Impl::rebuild_window(const std::vector<std::pair<std::shared_ptr<Segment>, std::uint64_t>>& live) {
  std::uint64_t need = opts.dedup_window;
  std::size_t start = live.size();
  std::uint64_t have = 0;
  while (start > 0 && have < need) {
    --start;
    have += live[start].second;
  }
  std::uint64_t skip = have > need ? have - need : 0;
  for (std::size_t i = start; i < live.size(); ++i) {
    const auto& seg = *live[i].first;
    Fd fd(::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw std::runtime_error("cannot open journal segment " + seg.path.string() + ": " + errno_text(errno));
    scan_segment(fd.get(), seg.end.load(), seg.first_seq, [&](const Record& rec) {
      if (skip > 0) {
        --skip;
        return;
      }
      window.push(dedup_hash(hash_buf, rec.topic, rec.payload));
    });
  }
}

// Quarantined files are kept (they hold frames that could not be replayed, for an operator
// to inspect), counted toward the bound and reported, never deleted by iotd.
void Journal::Impl::count_quarantined() {
  std::uint64_t n = 0, bytes = 0;
  std::error_code ec;
  for (fs::directory_iterator it(opts.dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".bad") != 0) continue;
    std::error_code sec;
    const auto size = fs::file_size(it->path(), sec);
    ++n;
    if (!sec) bytes += size;
  }
  bad_files.store(n);
  bad_bytes.store(bytes);
  if (n > 0) {
    spdlog::warn("journal: {} quarantined file(s) (*.bad, {} bytes) in {} count toward IOTD_JOURNAL_MAX_BYTES ({}); "
                 "their frames are not replayed: inspect them and delete them to free the space",
                 n, bytes, opts.dir.string(), opts.max_bytes);
  }
}

void Journal::Impl::note_failure(const char* what, int err) {
  const std::uint64_t n = failures.fetch_add(1, std::memory_order_relaxed) + 1;
  {
    std::lock_guard lk(failure_mu);
    last_failure = std::string(what) + ": " + errno_text(err);
  }
  const auto now = Clock::now();
  if (n == 1 || now - last_failure_log >= std::chrono::seconds(1)) {  // no log flood on a full disk
    last_failure_log = now;
    spdlog::error("journal: append failed in {} ({}: {}); the caller holds the frame and retries "
                  "({} append failures so far)",
                  opts.dir.string(), what, errno_text(err), n);
  }
}

bool Journal::Impl::roll(std::uint64_t first_seq) {
  const fs::path path = opts.dir / segment_name(first_seq);
  fs::path tmp = path;
  tmp += ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) {
    note_failure("creating a segment", errno);
    return false;
  }
  char h[kSegHeaderSize];
  encode_segment_header(h, uuid_bin, first_seq);
  std::size_t done = 0;
  // Created under a temporary name so that a segment file always has a whole header.
  if (!pwrite_all(fd.get(), h, sizeof h, 0, done) ||
      (opts.fsync != FsyncPolicy::off && ::fdatasync(fd.get()) != 0) || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    note_failure("creating a segment", err);
    return false;
  }
  fsync_dir();

  auto seg = std::make_shared<Segment>(first_seq, path, kSegHeaderSize, first_seq - 1);
  auto handle = std::make_shared<Fd>(std::move(fd));
  if (active) active->last_seq.store(next_seq - 1, std::memory_order_relaxed);
  {
    std::lock_guard lk(seg_mu);
    segments.emplace(first_seq, seg);
  }
  if (active) active->sealed.store(true, std::memory_order_release);
  {
    std::lock_guard lk(sync_mu);
    if (active_fd && opts.fsync == FsyncPolicy::interval) {
      sync_retired.push_back(active_fd);  // the sync thread flushes it, then closes it
      dirty.store(true, std::memory_order_relaxed);
    }
    sync_active = handle;
  }
  active = std::move(seg);
  active_fd = std::move(handle);
  active_end = kSegHeaderSize;
  disk_bytes.fetch_add(kSegHeaderSize, std::memory_order_relaxed);
  return true;
}

AppendResult Journal::Impl::append(std::string_view topic, std::string_view payload, std::int64_t received_at_ms,
                                   std::uint8_t flags) {
  try {
    std::lock_guard lk(append_mu);
    if (topic.size() > kMaxTopic || payload.size() > kMaxPayload) {
      note_failure("frame larger than MQTT allows", EFBIG);
      return AppendResult::failed;
    }
    const std::uint64_t h = dedup_hash(hash_buf, topic, payload);
    if ((flags & kDup) != 0 && window.contains(h)) {
      duplicates.fetch_add(1, std::memory_order_relaxed);
      return AppendResult::duplicate;
    }

    const std::size_t size = kRecordHeaderSize + topic.size() + payload.size();
    // An oversized frame still goes in a segment of its own.
    if (active_end > kSegHeaderSize && active_end + size > opts.segment_bytes) {
      if (!roll(next_seq)) return AppendResult::failed;
    }
    const std::uint64_t seq = next_seq;
    record_buf.resize(size);
    char* p = record_buf.data();
    put_u32(p, kRecordMagic);
    put_u32(p + 4, static_cast<std::uint32_t>(size - 8));
    put_u64(p + 16, seq);
    put_u64(p + 24, static_cast<std::uint64_t>(received_at_ms));
    p[32] = static_cast<char>(flags);
    put_u16(p + 33, static_cast<std::uint16_t>(topic.size()));
    if (!topic.empty()) std::memcpy(p + kRecordHeaderSize, topic.data(), topic.size());
    if (!payload.empty()) std::memcpy(p + kRecordHeaderSize + topic.size(), payload.data(), payload.size());
    put_u64(p + 8, XXH3_64bits(p + 16, size - 16));

    // pwrite at our own offset rather than O_APPEND: after a failed or partial write the
    // next append simply overwrites the leftovers, and readers never look past `end`.
    std::size_t done = 0;
    if (!pwrite_all(active_fd->get(), p, size, active_end, done)) {
      const int err = errno;
      if (done > 0 && ::ftruncate(active_fd->get(), static_cast<off_t>(active_end)) != 0) {
        // Leftovers stay past `end`; overwritten by the next append or truncated at start-up.
      }
      note_failure("write", err);
      return AppendResult::failed;
    }
    AppendResult result = AppendResult::appended;
    // `always` syncs before publishing, so the database can never commit past what is on disk.
    if (opts.fsync == FsyncPolicy::always) fsyncs.fetch_add(1, std::memory_order_relaxed);
    if (opts.fsync == FsyncPolicy::always && ::fdatasync(active_fd->get()) != 0) {
      note_failure("fdatasync", errno);
      result = AppendResult::failed;
    }
    ++next_seq;
    active_end += size;
    window.push(h);
    active->end.store(active_end, std::memory_order_release);
    disk_bytes.fetch_add(size, std::memory_order_relaxed);
    published_seq.store(seq, std::memory_order_seq_cst);
    if (reader_waiting.load(std::memory_order_seq_cst)) {
      std::lock_guard wl(wait_mu);
      wait_cv.notify_one();
    }
    if (opts.fsync == FsyncPolicy::interval && !dirty.load(std::memory_order_relaxed)) {
      dirty.store(true, std::memory_order_relaxed);
    }
    return result;
  } catch (...) {  // bad_alloc: the Paho callback must not see an exception
    failures.fetch_add(1, std::memory_order_relaxed);
    return AppendResult::failed;
  }
}

void Journal::Impl::seek_after(std::uint64_t seq) {
  rskip = seq;
  rpositioned = false;
  rseg.reset();
  rfd.reset();
}

void Journal::Impl::reader_error(const std::string& what) {
  read_errors.fetch_add(1, std::memory_order_relaxed);
  spdlog::error("journal: {}; skipping to the next segment", what);
  rbad = true;
}

void Journal::Impl::reader_open(std::shared_ptr<Segment> seg) {
  rseg = std::move(seg);
  rbad = false;
  rfd.reset(::open(rseg->path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!rfd) {
    if (errno == ENOENT && rseg->sealed.load(std::memory_order_acquire)) {
      rbad = true;  // deleted by a checkpoint past it: nothing to read there
      return;
    }
    reader_error("cannot open " + rseg->path.string() + ": " + errno_text(errno));
    return;
  }
  rbuf.reset(rfd.get(), 0);
  if (!rbuf.ensure(kSegHeaderSize, rseg->end.load(std::memory_order_acquire))) {
    reader_error("cannot read the header of " + rseg->path.string());
    return;
  }
  if (const char* why = check_segment_header(rbuf.data(), uuid_bin, rseg->first_seq)) {
    reader_error(rseg->path.string() + ": " + why);
    return;
  }
  rbuf.advance(kSegHeaderSize);
}

std::size_t Journal::Impl::gather(std::vector<Frame>& out, std::size_t max_frames, std::size_t max_bytes) {
  if (!rpositioned) {
    rpositioned = true;
    std::shared_ptr<Segment> seg;
    {
      std::lock_guard lk(seg_mu);
      // The segment holding rskip + 1 (binary search by first seq), else the oldest.
      auto it = segments.upper_bound(rskip == UINT64_MAX ? rskip : rskip + 1);
      if (it != segments.begin()) --it;
      seg = it->second;
    }
    reader_open(std::move(seg));
  }
  std::size_t added = 0;
  std::size_t bytes = 0;
  while (added < max_frames && rseg) {
    const std::uint64_t end = rseg->end.load(std::memory_order_acquire);
    if (!rbad && rbuf.offset() < end) {
      Record rec;
      const char* why = nullptr;
      if (parse_record(rbuf, end, rec, why) != Parse::ok) {
        reader_error("bad frame in " + rseg->path.string() + " at offset " + std::to_string(rbuf.offset()) + " (" +
                     (rbuf.error() != 0 ? errno_text(rbuf.error()) : std::string(why)) + ")");
        continue;
      }
      if (rec.seq <= rskip) {
        rbuf.advance(rec.size);
        continue;
      }
      const std::size_t n = rec.topic.size() + rec.payload.size();
      if (added > 0 && bytes + n > max_bytes) break;
      Frame& f = out.emplace_back();
      f.seq = rec.seq;
      f.received_at_ms = rec.received_at_ms;
      f.flags = rec.flags;
      f.topic.assign(rec.topic);
      f.payload.assign(rec.payload);
      rbuf.advance(rec.size);
      ++added;
      bytes += n;
      continue;
    }
    if (!rseg->sealed.load(std::memory_order_acquire)) break;  // caught up with the appender
    if (!rbad && rbuf.offset() < rseg->end.load(std::memory_order_acquire)) continue;  // final records
    std::shared_ptr<Segment> next;
    {
      std::lock_guard lk(seg_mu);
      auto it = segments.upper_bound(rseg->first_seq);
      if (it != segments.end()) next = it->second;
    }
    if (!next) break;  // sealed implies a successor; be safe anyway
    reader_open(std::move(next));
  }
  return added;
}

std::size_t Journal::Impl::read(std::vector<Frame>& out, std::size_t max_frames, std::size_t max_bytes,
                                std::chrono::milliseconds wait) {
  if (max_frames == 0) return 0;
  const auto deadline = Clock::now() + std::min<std::chrono::milliseconds>(wait, std::chrono::hours(24));
  for (;;) {
    const std::uint64_t seen = published_seq.load(std::memory_order_seq_cst);
    if (const std::size_t n = gather(out, max_frames, max_bytes); n > 0) return n;
    std::unique_lock lk(wait_mu);
    if (wake_requested) {
      wake_requested = false;
      return 0;
    }
    reader_waiting.store(true, std::memory_order_seq_cst);
    const bool more = wait_cv.wait_until(lk, deadline, [&] {
      return wake_requested || published_seq.load(std::memory_order_seq_cst) != seen;
    });
    reader_waiting.store(false, std::memory_order_relaxed);
    if (wake_requested) {
      wake_requested = false;
      return 0;
    }
    if (!more) return 0;
  }
}

// After a power loss under `interval` the database may have committed seqs whose frames
// the journal lost with its unsynced tail; new frames must not reuse those numbers, or
// the reader (positioned after the database checkpoint) would skip them.
void Journal::Impl::skip_past(std::uint64_t seq) {
  std::lock_guard lk(append_mu);
  if (seq < next_seq) return;
  if (!roll(seq + 1))
    throw std::runtime_error("cannot create a journal segment in " + opts.dir.string() + ": " + errno_text(errno));
  next_seq = seq + 1;
  published_seq.store(seq, std::memory_order_seq_cst);
}

void Journal::Impl::wake() {
  {
    std::lock_guard lk(wait_mu);
    wake_requested = true;
  }
  wait_cv.notify_all();
}

void Journal::Impl::checkpoint(std::uint64_t seq) {
  const std::uint64_t prev = committed.load(std::memory_order_relaxed);
  if (seq <= prev) return;
  committed.store(seq, std::memory_order_relaxed);
  release_through(prev);
}

// A segment goes once a checkpoint past its last seq has been followed by another one (or
// by release_committed(), the same step taken later without a new commit).
void Journal::Impl::release_through(std::uint64_t prev) {
  std::lock_guard rl(release_mu);  // the writer's checkpoint and the monitor's release
  std::vector<std::shared_ptr<Segment>> doomed;
  {
    std::lock_guard lk(seg_mu);
    for (auto it = segments.begin(); it != segments.end() && std::next(it) != segments.end(); ++it) {
      const Segment& s = *it->second;
      if (!s.sealed.load(std::memory_order_acquire) || s.last_seq.load(std::memory_order_relaxed) > prev) break;
      doomed.push_back(it->second);
    }
  }
  if (doomed.empty()) return;
  std::size_t removed = 0;
  for (const auto& seg : doomed) {
    if (::unlink(seg->path.c_str()) != 0 && errno != ENOENT) {
      spdlog::error("journal: cannot delete segment {}: {}", seg->path.string(), errno_text(errno));
      break;
    }
    ++removed;
  }
  {
    std::lock_guard lk(seg_mu);
    for (std::size_t i = 0; i < removed; ++i) segments.erase(doomed[i]->first_seq);
  }
  for (std::size_t i = 0; i < removed; ++i) {
    disk_bytes.fetch_sub(doomed[i]->end.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  if (removed > 0) fsync_dir();
}

void Journal::Impl::sync() {
  std::vector<std::shared_ptr<Fd>> targets;
  {
    std::lock_guard lk(sync_mu);
    targets.swap(sync_retired);
    targets.push_back(sync_active);
  }
  for (const auto& fd : targets) {
    if (fd && *fd) fsyncs.fetch_add(1, std::memory_order_relaxed);
    if (fd && *fd && ::fdatasync(fd->get()) != 0) {
      spdlog::error("journal: fdatasync in {} failed: {}", opts.dir.string(), errno_text(errno));
    }
  }
}

// Never holds sync_mu across fdatasync: append() takes it when it rolls a segment.
void Journal::Impl::sync_loop(std::stop_token st) {
  log::ModuleScope module("journal");
  try {
    std::unique_lock lk(sync_mu);
    while (!st.stop_requested()) {
      sync_cv.wait_for(lk, st, opts.fsync_interval, [] { return false; });
      if (st.stop_requested()) break;
      if (!dirty.exchange(false, std::memory_order_relaxed)) continue;
      lk.unlock();
      sync();
      lk.lock();
    }
  } catch (const std::exception& e) {
    spdlog::error("journal: fsync thread stopped: {}", e.what());
  }
}

Journal::Journal(JournalOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
Journal::~Journal() = default;

AppendResult Journal::append(std::string_view topic, std::string_view payload, std::int64_t received_at_ms,
                             std::uint8_t flags) {
  return impl_->append(topic, payload, received_at_ms, flags);
}
void Journal::seek_after(std::uint64_t seq) { impl_->seek_after(seq); }
std::size_t Journal::read(std::vector<Frame>& out, std::size_t max_frames, std::size_t max_bytes,
                          std::chrono::milliseconds wait) {
  return impl_->read(out, max_frames, max_bytes, wait);
}
void Journal::checkpoint(std::uint64_t seq) { impl_->checkpoint(seq); }
void Journal::release_committed() { impl_->release_through(impl_->committed.load(std::memory_order_relaxed)); }
void Journal::wake() { impl_->wake(); }
void Journal::skip_past(std::uint64_t seq) { impl_->skip_past(seq); }
const std::string& Journal::uuid() const { return impl_->uuid_text; }
std::uint64_t Journal::last_seq() const { return impl_->published_seq.load(std::memory_order_acquire); }
std::uint64_t Journal::committed_seq() const { return impl_->committed.load(std::memory_order_relaxed); }
std::uint64_t Journal::bytes_on_disk() const { return impl_->disk_bytes.load(std::memory_order_relaxed); }
bool Journal::over_bound() const {
  return bytes_on_disk() + quarantined_bytes() >= impl_->opts.max_bytes;
}
const RecoveryReport& Journal::recovery() const { return impl_->report; }
std::uint64_t Journal::append_failures() const { return impl_->failures.load(std::memory_order_relaxed); }

std::uint64_t Journal::fsyncs() const { return impl_->fsyncs.load(std::memory_order_relaxed); }
std::uint64_t Journal::duplicates_dropped() const { return impl_->duplicates.load(std::memory_order_relaxed); }
std::uint64_t Journal::read_errors() const { return impl_->read_errors.load(std::memory_order_relaxed); }
void Journal::sync() { impl_->sync(); }
std::uint64_t Journal::quarantined_files() const { return impl_->bad_files.load(std::memory_order_relaxed); }
std::uint64_t Journal::quarantined_bytes() const { return impl_->bad_bytes.load(std::memory_order_relaxed); }
std::optional<std::uint64_t> Journal::filesystem_free_bytes() const {
  struct statvfs sv {};
  if (::fstatvfs(impl_->dir_fd.get(), &sv) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(sv.f_bavail) * static_cast<std::uint64_t>(sv.f_frsize);
}
std::string Journal::last_failure() const {
  std::lock_guard lk(impl_->failure_mu);
  return impl_->last_failure;
}

FsyncPolicy parse_fsync_policy(std::string_view s) {
  if (s == "interval") return FsyncPolicy::interval;
  if (s == "always") return FsyncPolicy::always;
  if (s == "off") return FsyncPolicy::off;
  throw std::invalid_argument("IOTD_JOURNAL_FSYNC must be interval, always or off");
}

}  // namespace iotd::journal
