// The crash test of the snapshot store: a writer process (snapshot_crash_writer, fsync on) is
// SIGKILLed at random moments; after every kill LATEST must name a complete, verifiable
// snapshot whose step never goes backwards, and no half-written snapshot may be visible.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "common/snapshot/snapshot_store.h"
#include "tests/testing/temp_dir.h"

#ifndef SNAPSHOT_CRASH_WRITER
#error "SNAPSHOT_CRASH_WRITER must name the snapshot_crash_writer binary"
#endif

namespace towerstream::snapshot {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kSeed = 20261129;
constexpr int kKills = 30;
constexpr int kMaxDelayMs = 300;

pid_t StartWriter(const fs::path& root) {
  const std::string seed = std::to_string(kSeed);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(SNAPSHOT_CRASH_WRITER, SNAPSHOT_CRASH_WRITER, root.c_str(), seed.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

bool IsTemporary(const std::string& name) {
  return name.starts_with(".tmp-") || name == "LATEST.tmp";
}

int CountTemporary(const fs::path& root) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    count += IsTemporary(entry.path().filename().string()) ? 1 : 0;
  }
  return count;
}

// Every non-temporary directory in the root must be a complete snapshot whose payload matches
// its manifest, including step.txt.
void ExpectOnlyCompleteSnapshotsVisible(const fs::path& root) {
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (IsTemporary(name) || name == "LATEST" || name == "LOCK") continue;
    ASSERT_TRUE(entry.is_directory()) << name;
    const Status verified = VerifySnapshot(entry.path());
    ASSERT_TRUE(verified.ok()) << verified.ToString();
    Result<Manifest> manifest = ReadManifest(entry.path());
    ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
    EXPECT_EQ(manifest->id, name);
    std::ifstream step_file(entry.path() / "step.txt");
    int64_t step = -1;
    step_file >> step;
    EXPECT_EQ(step, manifest->step) << name;
  }
}

TEST(SnapshotCrashTest, KillsAtRandomMomentsLeaveLatestCompleteAndMonotonic) {
  testing::ScopedTempDir dir("snapshot_crash_test");
  const fs::path root = dir.path() / "snapshots";
  std::mt19937 rng(kSeed);
  std::uniform_int_distribution<int> delay_ms(0, kMaxDelayMs);
  const auto start = std::chrono::steady_clock::now();

  int64_t last_step = 0;
  int kills_mid_write = 0;  // kills that left a temporary entry: the interesting ones
  for (int kill = 0; kill < kKills; ++kill) {
    SCOPED_TRACE("kill " + std::to_string(kill) + " (seed " + std::to_string(kSeed) + ")");
    const pid_t pid = StartWriter(root);
    ASSERT_GT(pid, 0) << "fork failed";
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer was expected to run until killed, but " << DescribeExit(status);
    if (!fs::exists(root)) continue;  // killed before it created the root

    kills_mid_write += CountTemporary(root) > 0 ? 1 : 0;
    ExpectOnlyCompleteSnapshotsVisible(root);
    if (fs::exists(root / "LATEST")) {
      Result<fs::path> latest = ResolveSnapshot(root);
      ASSERT_TRUE(latest.ok()) << latest.status().ToString();
      Result<Manifest> manifest = ReadManifest(*latest);
      ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
      const Status verified = VerifySnapshot(*latest);
      ASSERT_TRUE(verified.ok()) << verified.ToString();
      EXPECT_GE(manifest->step, last_step) << "LATEST went backwards";
      last_step = manifest->step;
    } else {
      ASSERT_EQ(last_step, 0) << "LATEST disappeared";
    }

    // What a restarting trainer does first: Open, which must clean up after the crash.
    SnapshotStoreOptions options;
    options.dir = root;
    Result<std::unique_ptr<SnapshotStore>> store = SnapshotStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ(CountTemporary(root), 0);
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d kills in %.1f s, %d mid-write, last step %lld\n", kKills, seconds,
              kills_mid_write, static_cast<long long>(last_step));
  // Without these the test would pass vacuously.
  EXPECT_GT(last_step, 0) << "no snapshot ever completed";
  EXPECT_GT(kills_mid_write, 0) << "no kill landed during a write";
}

}  // namespace
}  // namespace towerstream::snapshot
