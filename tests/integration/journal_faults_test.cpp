// The journal's bounds under faults (issue 12, docs/guarantees.md): its disk fills (a small
// tmpfs mounted by the test), it reaches IOTD_JOURNAL_MAX_BYTES, it holds quarantined *.bad
// files. Intake pauses (or blocks) visibly on /api/v1/health, resumes once space returns,
// and every QoS 1 message the broker acknowledged is stored exactly once.
// The database is "slow" by a test transaction holding SQLite's write lock: the writer
// retries, checkpoints stop, and the journal grows until the bound is hit.
#include <gtest/gtest.h>
#include <soci/soci.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "iotd/storage/database.hpp"

#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;

// count messages of about 1 KiB each over 10 devices; metric "n" is a unique number.
std::vector<OutMessage> padded(int count) {
  const std::string pad(900, 'x');
  std::vector<OutMessage> out;
  out.reserve(count);
  const long long base_ms = 1767225600000LL;  // 2026-01-01
  for (int i = 0; i < count; ++i)
    out.push_back({"sensors/dev" + std::to_string(i % 10) + "/data",
                   "{\"n\":" + std::to_string(i) + ",\"temperature\":21.5,\"timestamp\":" +
                       std::to_string(base_ms + i) + ",\"note\":\"" + pad + "\"}"});
  return out;
}

std::int64_t stored(const IotdProcess& iotd) {
  return db_count(iotd.database_url(), "SELECT COUNT(*) FROM messages");
}

// Holds SQLite's write lock (BEGIN IMMEDIATE) until release() or destruction: the writer's
// commits fail as busy and are retried, so nothing is checkpointed meanwhile.
class WriteLock {
 public:
  explicit WriteLock(const std::string& database_url) {
    const auto spec = storage::parse_database_url(database_url);
    // The URL's busy timeout covers a commit of the writer in progress right now.
    s_ = std::make_unique<soci::session>(spec.backend, spec.connect_string);
    *s_ << "BEGIN IMMEDIATE";
  }
  ~WriteLock() { release(); }
  void release() {
    if (!s_) return;
    try {
      *s_ << "ROLLBACK";
    } catch (...) {
    }
    s_.reset();
  }

 private:
  std::unique_ptr<soci::session> s_;
};

// A tmpfs of `size` mounted at `dir` for the test's life (needs root: CAP_SYS_ADMIN);
// unmounted by the destructor.
class TmpfsMount {
 public:
  TmpfsMount(std::filesystem::path dir, const std::string& size) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    ProcessOptions po;
    po.log_file = dir_.parent_path() / "mount.log";
    int st = run_process({"mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir_.string()}, po, 10s);
    mounted_ = Process::exit_code(st) == 0;
    if (!mounted_) {
      std::ifstream in(po.log_file);
      error_.assign(std::istreambuf_iterator<char>(in), {});
    }
  }
  ~TmpfsMount() {
    if (!mounted_) return;
    ProcessOptions po;
    if (Process::exit_code(run_process({"umount", dir_.string()}, po, 10s)) != 0)
      run_process({"umount", "-l", dir_.string()}, po, 10s);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
  std::string error_;
};

bool health_says(IotdProcess& iotd, const std::string& needle, HttpReply& last) {
  last = iotd.get("/api/v1/health");
  return last.status == 503 && last.body.find(needle) != std::string::npos;
}

// The scenario shared by the disk-full and the bound tests: the writer is stalled, messages
// are published until intake stops (health says `why`), then the stall ends and everything
// is stored once and intake is healthy again.
void stall_fill_and_recover(IotdProcess& iotd, MosquittoServer& broker, int total, const std::string& why) {
  ASSERT_TRUE(eventually([&] { return iotd.get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
      << iotd.log();
  auto lock = std::make_unique<WriteLock>(iotd.database_url());

  auto pub = publish_all(broker.url(), "faults-pub", padded(total), 1, 100);
  ASSERT_EQ(pub.acknowledged, static_cast<std::size_t>(total)) << "the broker takes every message";

  HttpReply health;
  ASSERT_TRUE(eventually([&] { return health_says(iotd, why, health); }, 30s))
      << "health never said \"" << why << "\"; last: " << health.status << " " << health.body << "\n"
      << iotd.log();
  const auto h = health.json();
  EXPECT_EQ(h["status"], "unavailable");
  EXPECT_EQ(iotd.get("/api/v1/health/live").status, 200);
  auto metrics = iotd.get("/metrics");
  EXPECT_TRUE(metrics.body.find("iotd_mqtt_intake_paused 1") != std::string::npos ||
              metrics.body.find("iotd_mqtt_intake_blocked 1") != std::string::npos)
      << metrics.body.substr(0, 2000);
  const auto at_stop = stored(iotd);
  EXPECT_LT(at_stop, total) << "the stalled writer cannot have stored everything";
  const auto journal_bytes = h["journal"]["bytes"].get<long long>();

  lock->release();  // the database catches up; checkpoints free the journal
  ASSERT_TRUE(eventually([&] { return stored(iotd) >= total; }, 90s))
      << "stored " << stored(iotd) << " of " << total << "\n" << iotd.log();
  std::this_thread::sleep_for(500ms);  // a duplicate would land now
  expect_each_n_once(iotd.database_url(), total);
  HttpReply after;
  EXPECT_TRUE(eventually([&] {
    after = iotd.get("/api/v1/health");
    return after.status == 200 && after.json()["ingest"]["paused"] == false &&
           after.json()["ingest"]["blocked"] == false;
  }, 30s)) << after.body;
  std::printf("[ %s ] %d published; intake stopped with %lld stored and %lld journal bytes; all %d stored once after\n",
              why.c_str(), total, static_cast<long long>(at_stop), journal_bytes, total);
}

class DiskFull : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    mount_ = std::make_unique<TmpfsMount>(dir_ / "journal-fs", "24m");
    if (!mount_->mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << mount_->error();
  }
  void TearDown() override {
    iotd_.reset();  // closes the journal before the unmount
    mount_.reset();
  }
  void start(const std::string& min_free) {
    iotd_ = std::make_unique<IotdProcess>(IotdProcess::Options{
        dir_ / "iotd", broker_.url(),
        {{"IOTD_JOURNAL_DIR", (dir_ / "journal-fs" / "journal").string()},
         {"IOTD_JOURNAL_SEGMENT_BYTES", "256KiB"},
         {"IOTD_JOURNAL_MAX_BYTES", "1GiB"},  // far above the disk: only the disk limits
         {"IOTD_JOURNAL_MIN_FREE_BYTES", min_free}}});
  }

  TempDir dir_;
  MosquittoServer broker_;
  std::unique_ptr<TmpfsMount> mount_;
  std::unique_ptr<IotdProcess> iotd_;
};

// The reserve (IOTD_JOURNAL_MIN_FREE_BYTES) pauses intake before the disk is full.
TEST_F(DiskFull, IntakePausesAtTheFreeSpaceReserveSaysWhyAndResumesWhenCheckpointsFreeSpace) {
  start("12MiB");
  stall_fill_and_recover(*iotd_, broker_, 30000, "free on the journal's filesystem");
}

// Without a reserve the disk really fills (ENOSPC): the MQTT callback holds the refused
// frame and retries, nothing more is acknowledged, and nothing is lost.
TEST_F(DiskFull, WithoutReserveTheFullDiskBlocksIntakeLosesNothingAndResumes) {
  start("0");
  stall_fill_and_recover(*iotd_, broker_, 30000, "No space left on device");
}

TEST(JournalBound, IntakePausesAtMaxBytesSaysWhyAndResumes) {
  TempDir dir;
  MosquittoServer broker;
  IotdProcess iotd({dir / "iotd", broker.url(),
                    {{"IOTD_JOURNAL_SEGMENT_BYTES", "64KiB"}, {"IOTD_JOURNAL_MAX_BYTES", "1MiB"}}});
  stall_fill_and_recover(iotd, broker, 6000, "at IOTD_JOURNAL_MAX_BYTES");
  // The journal stayed near its bound (one monitor tick of overshoot at most).
}

// Policy: quarantined *.bad files are kept for inspection, never deleted by iotd; they count
// toward IOTD_JOURNAL_MAX_BYTES, are logged at start and reported on /health and /metrics.
TEST(JournalQuarantine, BadFilesCountTowardTheBoundAndAreReported) {
  TempDir dir;
  MosquittoServer broker;
  const auto journal_dir = dir / "iotd" / "journal";
  std::filesystem::create_directories(journal_dir);
  {
    std::ofstream bad(journal_dir / "00000000000000000001.seg.bad", std::ios::binary);
    bad << std::string(1200 * 1024, 'z');  // more than the bound below
  }
  std::map<std::string, std::string> env{{"IOTD_JOURNAL_SEGMENT_BYTES", "64KiB"},
                                         {"IOTD_JOURNAL_MAX_BYTES", "1MiB"}};
  auto iotd = std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", broker.url(), env});
  HttpReply health;
  ASSERT_TRUE(eventually([&] { return health_says(*iotd, "quarantined *.bad", health); }, 15s))
      << health.body << "\n" << iotd->log();
  auto h = health.json();
  EXPECT_EQ(h["journal"]["quarantined_files"], 1);
  EXPECT_EQ(h["journal"]["quarantined_bytes"], 1200 * 1024);
  EXPECT_EQ(h["ingest"]["paused"], true);
  auto metrics = iotd->get("/metrics").body;
  EXPECT_NE(metrics.find("iotd_journal_quarantined_files 1"), std::string::npos);
  EXPECT_NE(metrics.find("iotd_journal_quarantined_size_bytes 1228800"), std::string::npos);
  EXPECT_NE(iotd->log().find("quarantined file(s)"), std::string::npos) << "logged at start";
  EXPECT_TRUE(std::filesystem::exists(journal_dir / "00000000000000000001.seg.bad")) << "kept";

  // Messages published while paused wait at the broker; the operator deletes the file and
  // restarts, and they are all stored.
  auto pub = publish_all(broker.url(), "quarantine-pub", padded(200), 1, 100);
  ASSERT_EQ(pub.acknowledged, 200u);
  ASSERT_EQ(iotd->stop(), 0);
  std::filesystem::remove(journal_dir / "00000000000000000001.seg.bad");
  iotd->start();
  ASSERT_TRUE(eventually([&] { return stored(*iotd) >= 200; }, 30s)) << iotd->log();
  expect_each_n_once(iotd->database_url(), 200);
  EXPECT_EQ(iotd->get("/api/v1/health").json()["journal"]["quarantined_files"], 0);
}

}  // namespace
}  // namespace iotd::test
