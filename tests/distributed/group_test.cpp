// GroupMember and GroupRound: options, a group of one in this process, and groups of 2 and 3
// ranks as separate processes (group_rank_main) on loopback, including ranks SIGKILLed in the
// middle of a collective, a hung rank, and the store's host (rank 0) killed and restarted.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common/distributed/group.h"
#include "tests/testing/ports.h"

#ifndef GROUP_RANK_MAIN
#error "GROUP_RANK_MAIN must name the group_rank_main binary"
#endif

extern char** environ;

namespace towerstream::distributed {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Short, so that the fault tests stay quick; long enough for a loaded 2-core CI machine to form
// a group and to start a process.
constexpr milliseconds kCollectiveTimeout{2500};
constexpr milliseconds kRendezvousTimeout{20'000};
// The longest a test waits for one answer of a rank before failing (instead of hanging).
constexpr milliseconds kAnswerTimeout{25'000};

std::string Rendezvous() { return "127.0.0.1:" + std::to_string(testing::UnusedLoopbackPort()); }

// ---------------------------------------------------------------------------------------------
// Options and what one process can check alone.

TEST(GroupOptionsTest, DefaultsAreValid) { EXPECT_TRUE(GroupOptions().Validate().ok()); }

TEST(GroupOptionsTest, ValidateNamesTheBadFieldAndValue) {
  struct Case {
    const char* name;
    void (*change)(GroupOptions&);
    const char* expected;  // in the message
  };
  const Case cases[] = {
      {"world_size 0", [](GroupOptions& o) { o.world_size = 0; }, "world_size 0"},
      {"rank -1", [](GroupOptions& o) { o.rank = -1; }, "rank -1"},
      {"rank = world_size",
       [](GroupOptions& o) {
         o.world_size = 2;
         o.rank = 2;
       },
       "rank 2 must be in 0..1"},
      {"no port", [](GroupOptions& o) { o.rendezvous = "127.0.0.1"; }, "rendezvous '127.0.0.1'"},
      {"port 0", [](GroupOptions& o) { o.rendezvous = "127.0.0.1:0"; }, "port '0'"},
      {"port 65536", [](GroupOptions& o) { o.rendezvous = "h:65536"; }, "port '65536'"},
      {"port not a number", [](GroupOptions& o) { o.rendezvous = "h:29x"; }, "port '29x'"},
      {"empty host", [](GroupOptions& o) { o.rendezvous = ":29400"; }, "rendezvous ':29400'"},
      {"bare IPv6", [](GroupOptions& o) { o.rendezvous = "::1:29400"; }, "needs brackets"},
      {"unbalanced brackets", [](GroupOptions& o) { o.rendezvous = "[::1:29400"; }, "brackets"},
      {"empty bind_address", [](GroupOptions& o) { o.bind_address.clear(); }, "bind_address"},
      {"collective_timeout 0", [](GroupOptions& o) { o.collective_timeout = milliseconds(0); },
       "collective_timeout 0 ms"},
      {"rendezvous_timeout -5", [](GroupOptions& o) { o.rendezvous_timeout = milliseconds(-5); },
       "rendezvous_timeout -5 ms"},
  };
  for (const Case& c : cases) {
    GroupOptions options;
    c.change(options);
    const Status status = options.Validate();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(status.message().find(c.expected), std::string::npos)
        << c.name << ": " << status.message();
  }
  GroupOptions v6;
  v6.rendezvous = "[::1]:29400";
  EXPECT_TRUE(v6.Validate().ok()) << v6.Validate().ToString();
}

TEST(GroupMemberTest, CreateRejectsBadOptions) {
  GroupOptions options;
  options.rank = 3;
  Result<std::unique_ptr<GroupMember>> member = GroupMember::Create(options);
  ASSERT_FALSE(member.ok());
  EXPECT_EQ(member.status().code(), StatusCode::kInvalidArgument);
}

TEST(GroupMemberTest, CreateRejectsABindAddressGlooCannotListenOn) {
  GroupOptions options;
  options.rendezvous = Rendezvous();
  options.bind_address = "192.0.2.1";  // TEST-NET-1: never an address of this machine
  Result<std::unique_ptr<GroupMember>> member = GroupMember::Create(options);
  ASSERT_FALSE(member.ok());
  EXPECT_EQ(member.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(member.status().message().find("bind_address '192.0.2.1'"), std::string::npos)
      << member.status().message();
}

TEST(GroupMemberTest, Rank0FailsClearlyWhenTheStorePortIsTaken) {
  GroupOptions options;
  options.rendezvous = Rendezvous();
  options.world_size = 2;
  Result<std::unique_ptr<GroupMember>> first = GroupMember::Create(options);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<std::unique_ptr<GroupMember>> second = GroupMember::Create(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("cannot host the rendezvous store on port"),
            std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find(options.rendezvous), std::string::npos)
      << second.status().message();
}

TEST(GroupMemberTest, AGroupOfOneFormsAtOnceAndItsCollectivesCopy) {
  GroupOptions options;
  options.rendezvous = Rendezvous();
  Result<std::unique_ptr<GroupMember>> member = GroupMember::Create(options);
  ASSERT_TRUE(member.ok()) << member.status().ToString();
  Result<std::unique_ptr<GroupRound>> round = (*member)->JoinRound();
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ((*round)->round(), 0);
  EXPECT_EQ((*round)->world_size(), 1);

  const torch::Tensor local = torch::arange(6, torch::kFloat32).reshape({3, 2});
  Result<std::vector<torch::Tensor>> parts = (*round)->AllGather(local);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_TRUE(torch::equal((*parts)[0], local));

  torch::Tensor values = torch::tensor({1.5f, -2.0f});
  ASSERT_TRUE((*round)->AllReduceSum(values).ok());
  EXPECT_TRUE(torch::equal(values, torch::tensor({1.5f, -2.0f})));

  Result<std::vector<std::string>> bytes = (*round)->AllGatherBytes("snapshot-7");
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, std::vector<std::string>{"snapshot-7"});
  EXPECT_TRUE((*round)->Barrier().ok());

  const model::ExchangeStats stats = (*round)->stats();
  EXPECT_EQ(stats.collectives, 4);
  EXPECT_GT(stats.bytes_sent, 0);
  EXPECT_EQ(stats.bytes_received, 2 * 4);  // only the all-reduce's sums: no other rank sends

  // A second round of the same member is numbered above the first.
  Result<std::unique_ptr<GroupRound>> next = (*member)->JoinRound();
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ((*next)->round(), 1);
}

TEST(GroupMemberTest, MisuseIsInvalidArgumentAndLeavesTheRoundWorking) {
  GroupOptions options;
  options.rendezvous = Rendezvous();
  Result<std::unique_ptr<GroupMember>> member = GroupMember::Create(options);
  ASSERT_TRUE(member.ok()) << member.status().ToString();
  Result<std::unique_ptr<GroupRound>> round = (*member)->JoinRound();
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  torch::Tensor doubles = torch::zeros({3}, torch::kFloat64);
  EXPECT_EQ((*round)->AllReduceSum(doubles).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*round)->AllGather(torch::tensor(1.0f)).status().code(),
            StatusCode::kInvalidArgument);  // no first dimension
  EXPECT_TRUE((*round)->error().ok());
  torch::Tensor floats = torch::ones({3});
  EXPECT_TRUE((*round)->AllReduceSum(floats).ok());
}

TEST(GroupMemberTest, JoinRoundGivesUpAtTheRendezvousTimeoutNamingWhatItWaitedFor) {
  GroupOptions options;
  options.rendezvous = Rendezvous();
  options.world_size = 2;
  options.rendezvous_timeout = milliseconds(300);
  Result<std::unique_ptr<GroupMember>> rank0 = GroupMember::Create(options);
  ASSERT_TRUE(rank0.ok()) << rank0.status().ToString();
  const auto start = Clock::now();
  Result<std::unique_ptr<GroupRound>> round = (*rank0)->JoinRound();
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  ASSERT_FALSE(round.ok());
  EXPECT_EQ(round.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(round.status().message().find("1 of 2 ranks joined round 0"), std::string::npos)
      << round.status().message();

  // Rank 1 with nobody hosting the store: the refused connection is what it reports.
  GroupOptions lone = options;
  lone.rank = 1;
  lone.rendezvous = Rendezvous();
  Result<std::unique_ptr<GroupMember>> rank1 = GroupMember::Create(lone);
  ASSERT_TRUE(rank1.ok()) << rank1.status().ToString();
  Result<std::unique_ptr<GroupRound>> alone = (*rank1)->JoinRound();
  ASSERT_FALSE(alone.ok());
  EXPECT_EQ(alone.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(alone.status().message().find("the store at " + lone.rendezvous + " failed"),
            std::string::npos)
      << alone.status().message();

  // The round rank 0 gave up on was abandoned, so a later join starts above it.
  Result<std::unique_ptr<GroupRound>> again = (*rank0)->JoinRound();
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("joined round 1"), std::string::npos)
      << again.status().message();
}

TEST(GroupMemberTest, JoinRoundStopsWhenAsked) {
  GroupOptions options;
  options.rendezvous = Rendezvous();
  options.world_size = 2;
  Result<std::unique_ptr<GroupMember>> rank0 = GroupMember::Create(options);
  ASSERT_TRUE(rank0.ok()) << rank0.status().ToString();
  std::stop_source stop;
  std::jthread stopper([&stop] {
    std::this_thread::sleep_for(milliseconds(200));
    stop.request_stop();
  });
  const auto start = Clock::now();
  Result<std::unique_ptr<GroupRound>> round = (*rank0)->JoinRound(stop.get_token());
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
  ASSERT_FALSE(round.ok());
  EXPECT_EQ(round.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(round.status().message().find("stopped"), std::string::npos)
      << round.status().message();
}

// ---------------------------------------------------------------------------------------------
// Ranks as processes.

// One group_rank_main process, driven through its stdin and stdout.
class RankProcess {
 public:
  RankProcess(int rank, int world_size, const std::string& rendezvous) : rank_(rank) {
    ::signal(SIGPIPE, SIG_IGN);  // writing to a killed rank's stdin must not end the test
    int to_child[2];
    int from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2 failed";
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    const std::vector<std::string> args = {GROUP_RANK_MAIN,
                                           std::to_string(rank),
                                           std::to_string(world_size),
                                           rendezvous,
                                           std::to_string(kCollectiveTimeout.count()),
                                           std::to_string(kRendezvousTimeout.count())};
    std::vector<char*> argv;
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    const int spawned =
        ::posix_spawn(&pid_, GROUP_RANK_MAIN, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(to_child[0]);
    ::close(from_child[1]);
    in_ = to_child[1];
    out_ = from_child[0];
    if (spawned != 0) {
      pid_ = -1;
      ADD_FAILURE() << "posix_spawn " << GROUP_RANK_MAIN << " failed: " << spawned;
    }
  }
  // Asks a rank still running to quit and expects a clean exit: under the sanitizers that is
  // where a leak would show. One that does not quit in time is killed.
  ~RankProcess() {
    if (pid_ > 0) Send("quit");
    if (in_ >= 0) ::close(in_);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (pid_ > 0 && Clock::now() < deadline) {
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "rank " << rank_ << " did not exit cleanly (status " << status << ")";
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    if (pid_ > 0) ADD_FAILURE() << "rank " << rank_ << " did not quit within 10 s";
    Kill(SIGKILL);
    if (out_ >= 0) ::close(out_);
  }
  RankProcess(const RankProcess&) = delete;
  RankProcess& operator=(const RankProcess&) = delete;

  int rank() const { return rank_; }

  void Send(const std::string& command) {
    if (in_ < 0) return;
    const std::string line = command + "\n";
    if (::write(in_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      ADD_FAILURE() << "rank " << rank_ << ": cannot send '" << command << "'";
    }
  }

  // The next line the rank answers; "" (and a test failure) when none comes in time.
  std::string ReadLine(milliseconds timeout = kAnswerTimeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      pollfd fd{out_, POLLIN, 0};
      if (left <= 0 || ::poll(&fd, 1, static_cast<int>(left)) <= 0) {
        ADD_FAILURE() << "rank " << rank_ << " did not answer within " << timeout.count() << " ms";
        return "";
      }
      char chunk[4096];
      const ssize_t n = ::read(out_, chunk, sizeof(chunk));
      if (n <= 0) {
        ADD_FAILURE() << "rank " << rank_ << " closed its output (exited?)";
        return "";
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  void Signal(int signal) {
    if (pid_ > 0) ::kill(pid_, signal);
  }

  void Kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  int rank_;
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string buffer_;
};

class GroupProcessTest : public ::testing::Test {
 protected:
  void Start(int world_size) {
    world_size_ = world_size;
    rendezvous_ = Rendezvous();
    ranks_.resize(world_size);
    for (int r = 0; r < world_size; ++r) Restart(r);
  }

  // Starts (again) the process of rank `r` and waits until its member exists.
  void Restart(int r) {
    if (ranks_[r]) ranks_[r]->Kill(SIGKILL);  // ends a stopped process too
    ranks_[r].reset();
    ranks_[r] = std::make_unique<RankProcess>(r, world_size_, rendezvous_);
    ASSERT_EQ(ranks_[r]->ReadLine(), "ready");
  }

  void SendAll(const std::string& command) {
    for (auto& rank : ranks_) rank->Send(command);
  }

  std::vector<std::string> ReadAll() {
    std::vector<std::string> lines;
    for (auto& rank : ranks_) lines.push_back(rank->ReadLine());
    return lines;
  }

  // Every rank joins; returns the round they all formed (-1 and a failure if they differ).
  int JoinAll() {
    SendAll("join");
    int round = -1;
    for (auto& rank : ranks_) {
      const std::string line = rank->ReadLine();
      int theirs = -1;
      if (std::sscanf(line.c_str(), "joined %d", &theirs) != 1) {
        ADD_FAILURE() << "rank " << rank->rank() << ": " << line;
        return -1;
      }
      if (round >= 0 && theirs != round) {
        ADD_FAILURE() << "rank " << rank->rank() << " joined round " << theirs << ", not " << round;
        return -1;
      }
      round = theirs;
    }
    return round;
  }

  // Every rank answers `command` with `expected`.
  void ExpectAll(const std::string& command, const std::string& expected) {
    SendAll(command);
    const std::vector<std::string> lines = ReadAll();
    for (int r = 0; r < world_size_; ++r) {
      EXPECT_EQ(lines[r], expected) << "rank " << r << " answering '" << command << "'";
    }
  }

  // All ranks run a sum and agree to the bit.
  void ExpectSumsAgree(int64_t n) {
    SendAll("sum " + std::to_string(n));
    const std::vector<std::string> lines = ReadAll();
    for (int r = 0; r < world_size_; ++r) {
      EXPECT_TRUE(lines[r].starts_with("sum ") && lines[r].ends_with(" ok"))
          << "rank " << r << ": " << lines[r];
      EXPECT_EQ(lines[r], lines[0]) << "rank " << r << "'s sums differ from rank 0's bits";
    }
  }

  // Parsed "failed <ms> <again ms> <same|differs> <Code> <message>" of a `loop`.
  struct Failure {
    int64_t ms = -1;
    int64_t again_ms = -1;
    std::string same;
    std::string code;
    std::string message;
  };
  Failure ReadFailure(RankProcess& rank) {
    const std::string line = rank.ReadLine();
    std::istringstream in(line);
    std::string word;
    Failure failure;
    in >> word >> failure.ms >> failure.again_ms >> failure.same >> failure.code;
    in >> std::ws;
    std::getline(in, failure.message);
    EXPECT_EQ(word, "failed") << line;
    return failure;
  }

  // CPU time (ms, all threads) `rank` uses over the next `period`.
  int64_t CpuMsOver(RankProcess& rank, milliseconds period) {
    int64_t before = -1;
    int64_t after = -1;
    rank.Send("cpu");
    const std::string first = rank.ReadLine();
    std::this_thread::sleep_for(period);
    rank.Send("cpu");
    const std::string second = rank.ReadLine();
    EXPECT_EQ(std::sscanf(first.c_str(), "cpu %ld", &before), 1) << first;
    EXPECT_EQ(std::sscanf(second.c_str(), "cpu %ld", &after), 1) << second;
    return after - before;
  }

  int world_size_ = 0;
  std::string rendezvous_;
  std::vector<std::unique_ptr<RankProcess>> ranks_;
};

class GroupSizeTest : public GroupProcessTest, public ::testing::WithParamInterface<int> {};

TEST_P(GroupSizeTest, CollectivesGatherInRankOrderAndSumsAgreeToTheBit) {
  Start(GetParam());
  ASSERT_EQ(JoinAll(), 0);
  const int rows[] = {3, 0, 5};
  const char* words[] = {"alpha", "-", "gamma"};
  std::string sizes;
  std::string joined_words;
  for (int r = 0; r < world_size_; ++r) {
    ranks_[r]->Send("gather " + std::to_string(rows[r]) + " 4");
    sizes += (r > 0 ? "," : "") + std::to_string(rows[r]);
  }
  for (int r = 0; r < world_size_; ++r) {
    EXPECT_EQ(ranks_[r]->ReadLine(), "gathered " + sizes + " ok") << "rank " << r;
  }
  ExpectAll("gather 0 4", world_size_ == 2 ? "gathered 0,0 ok" : "gathered 0,0,0 ok");
  for (int r = 0; r < world_size_; ++r) {
    ranks_[r]->Send("gather-long " + std::to_string(world_size_ - r));
  }
  for (int r = 0; r < world_size_; ++r) {
    EXPECT_EQ(ranks_[r]->ReadLine(), world_size_ == 2 ? "gathered 2,1 ok" : "gathered 3,2,1 ok")
        << "rank " << r;
  }
  for (int r = 0; r < world_size_; ++r) {
    ranks_[r]->Send(std::string("bytes ") + words[r]);
    joined_words += (r > 0 ? "|" : "") + std::string(words[r][0] == '-' ? "" : words[r]);
  }
  for (int r = 0; r < world_size_; ++r) {
    EXPECT_EQ(ranks_[r]->ReadLine(), "bytes " + joined_words) << "rank " << r;
  }
  ExpectSumsAgree(100'003);  // not a multiple of the ring's chunks
  ExpectSumsAgree(7);        // fewer elements than chunks
  ExpectAll("barrier", "barrier");

  // Different dtypes: every rank says so, and the round goes on.
  ranks_[0]->Send("gather-long 2");
  for (int r = 1; r < world_size_; ++r) ranks_[r]->Send("gather 2 4");
  for (int r = 0; r < world_size_; ++r) {
    const std::string line = ranks_[r]->ReadLine();
    EXPECT_TRUE(line.starts_with("error InvalidArgument")) << "rank " << r << ": " << line;
  }
  ExpectSumsAgree(1000);

  SendAll("stats");
  for (const std::string& line : ReadAll()) {
    int64_t collectives = 0;
    int64_t sent = 0;
    int64_t received = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "stats %ld %ld %ld", &collectives, &sent, &received), 3)
        << line;
    EXPECT_EQ(collectives, 9);
    EXPECT_GT(sent, 0);
    EXPECT_GT(received, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, GroupSizeTest, ::testing::Values(2, 3),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param);
                         });

TEST_F(GroupProcessTest, KilledRankFailsTheOthersAtOnceAndItsRestartJoinsALaterRound) {
  Start(3);
  ASSERT_EQ(JoinAll(), 0);
  SendAll("loop");
  for (auto& rank : ranks_) ASSERT_EQ(rank->ReadLine(), "looping");
  std::this_thread::sleep_for(milliseconds(300));  // well inside the all-reduces
  ranks_[2]->Kill(SIGKILL);
  for (int r = 0; r < 2; ++r) {
    const Failure failure = ReadFailure(*ranks_[r]);
    EXPECT_EQ(failure.code, "Unavailable");
    EXPECT_LT(failure.ms, kCollectiveTimeout.count()) << "a killed rank is noticed at once";
    EXPECT_NE(failure.message.find("group round 0: all_reduce failed on rank " + std::to_string(r) +
                                   " of 3: "),
              std::string::npos)
        << failure.message;
    EXPECT_EQ(failure.same, "same") << "a broken round fails every later call alike";
    EXPECT_LT(failure.again_ms, 100) << "and at once";
    std::cerr << "rank " << r << " noticed the killed rank after " << failure.ms
              << " ms: " << failure.message << "\n";
  }
  Restart(2);
  const int round = JoinAll();
  EXPECT_GT(round, 0);
  ExpectSumsAgree(1000);
  ExpectAll("bytes again", "bytes again|again|again");
}

TEST_F(GroupProcessTest, HungRankFailsTheOthersWithinTheCollectiveTimeout) {
  Start(2);
  ASSERT_EQ(JoinAll(), 0);
  SendAll("loop");
  for (auto& rank : ranks_) ASSERT_EQ(rank->ReadLine(), "looping");
  std::this_thread::sleep_for(milliseconds(200));
  ranks_[1]->Signal(SIGSTOP);
  const Failure failure = ReadFailure(*ranks_[0]);
  EXPECT_EQ(failure.code, "Unavailable");
  EXPECT_GE(failure.ms, kCollectiveTimeout.count() - 100);
  EXPECT_LT(failure.ms, kCollectiveTimeout.count() + 1500);
  EXPECT_NE(failure.message.find("group round 0: all_reduce failed on rank 0 of 2: "),
            std::string::npos)
      << failure.message;
  std::cerr << "rank 0 gave up on the hung rank after " << failure.ms << " ms: " << failure.message
            << "\n";
  Restart(1);  // SIGKILL ends a stopped process too
  EXPECT_GT(JoinAll(), 0);
  ExpectSumsAgree(1000);
}

TEST_F(GroupProcessTest, OthersReconnectWhenTheStoreHostIsKilledAndRestarted) {
  Start(2);
  ASSERT_EQ(JoinAll(), 0);
  ExpectSumsAgree(1000);
  SendAll("loop");
  for (auto& rank : ranks_) ASSERT_EQ(rank->ReadLine(), "looping");
  std::this_thread::sleep_for(milliseconds(300));
  ranks_[0]->Kill(SIGKILL);
  const Failure failure = ReadFailure(*ranks_[1]);
  EXPECT_EQ(failure.code, "Unavailable");
  EXPECT_LT(failure.ms, kCollectiveTimeout.count());
  EXPECT_NE(failure.message.find("on rank 1 of 2"), std::string::npos) << failure.message;
  // Nothing of rank 1 spins on the dead connections meanwhile (c10d 1.13's store client would:
  // rank 1 keeps no connection to the store between joins).
  EXPECT_LT(CpuMsOver(*ranks_[1], milliseconds(1000)), 250);

  // Rank 1 starts joining while no store is up (it retries), then rank 0 comes back on the same
  // port with an empty store; round numbers still grow.
  ranks_[1]->Send("join");
  std::this_thread::sleep_for(milliseconds(300));
  Restart(0);
  ranks_[0]->Send("join");
  const std::string joined0 = ranks_[0]->ReadLine();
  const std::string joined1 = ranks_[1]->ReadLine();
  EXPECT_EQ(joined0, joined1);
  EXPECT_EQ(joined0, "joined 1");
  ExpectSumsAgree(1000);
  ExpectAll("bytes back", "bytes back|back");
}

TEST_F(GroupProcessTest, CallsToAHungStoreHostTimeOutAndItsRestartIsJoined) {
  Start(2);
  ASSERT_EQ(JoinAll(), 0);
  ranks_[0]->Signal(SIGSTOP);
  // The store's host answers nothing now (its kernel still accepts connections). Rank 1's calls
  // to the store must time out rather than block for good, or the stop would never be seen.
  const auto start = Clock::now();
  ranks_[1]->Send("join-stop 300");
  const std::string stopped = ranks_[1]->ReadLine();
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  EXPECT_LT(took, kCollectiveTimeout + milliseconds(1500));
  std::cerr << "rank 1 answered the stop after " << took.count() << " ms: " << stopped << "\n";
  EXPECT_TRUE(
      stopped.starts_with("error Unavailable group rank 1 of 2: joining a round was "
                          "stopped (the store at " +
                          rendezvous_ + " failed: "))
      << stopped;
  Restart(0);  // SIGKILL ends a stopped process too
  EXPECT_EQ(JoinAll(), 1);
  ExpectSumsAgree(1000);
}

TEST_F(GroupProcessTest, ARankThatDiedWaitingIsNotCountedWhenItsRestartJoins) {
  Start(2);
  // Rank 1 registers in round 0 and dies there, before rank 0 joins.
  ranks_[1]->Send("join");
  std::this_thread::sleep_for(milliseconds(300));
  Restart(1);
  // Its restart finds its slot of round 0 taken, abandons round 0 and waits in round 1 ...
  ranks_[1]->Send("join");
  std::this_thread::sleep_for(milliseconds(300));
  // ... where rank 0 meets it, without waiting out any timeout for the dead registration.
  const auto start = Clock::now();
  ranks_[0]->Send("join");
  EXPECT_EQ(ranks_[0]->ReadLine(), "joined 1");
  EXPECT_EQ(ranks_[1]->ReadLine(), "joined 1");
  EXPECT_LT(Clock::now() - start, kCollectiveTimeout);
  ExpectSumsAgree(1000);
}

}  // namespace
}  // namespace towerstream::distributed
