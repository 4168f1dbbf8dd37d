// Scaling of a data-parallel trainer group (TwoTowerModel::TrainInGroup over Gloo) on loopback:
// 1, 2 and 4 ranks on the same synthetic stream; examples/s per rank, the share of step time in
// collectives and the bytes exchanged per step, then a projection of throughput on M machines.
//
// Each rank is a process: the bench re-executes itself (--rank R --world-size N ...), so every
// rank has its own LibTorch thread pool and its own Gloo connections, as trainers on separate
// machines would. A rank keeps the examples of the customers c with c % N == r (Kafka partitions
// the stream by customer), trains --warmup steps, then --steps timed ones of --batch-size
// examples, checks that its replicated state equals every other rank's, and writes its figures
// as "key value" lines into a file the parent reads. World 1 also trains plain Train() on the
// same batches, alternating with the group of one, as the baseline of every ratio.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_examples.h"
#include "bench/bench_flags.h"
#include "common/base/progress.h"
#include "common/base/status.h"
#include "common/distributed/group.h"
#include "common/model/fast_ops.h"
#include "common/model/two_tower_model.h"

namespace towerstream {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Flags {
  int64_t steps = 300;
  int64_t warmup = 20;
  int64_t batch_size = 512;  // per rank, like DDP; trainer_bench's default
  int64_t articles = 100'000;
  int64_t customers = 1'000'000;
  std::string ranks = "1,2,4";
  double bandwidth_gbit = 10;
  double latency_us = 50;
  int64_t threads = 1;
  int64_t cover_articles = 1;

  std::vector<int> worlds;  // --ranks, parsed by Validate

  Status Validate();
};

// Set by the parent on its rank processes only.
struct RankFlags {
  int64_t rank = -1;
  int64_t world_size = 0;
  std::string rendezvous;
  std::string result;  // where the rank writes its figures
};

// The largest world --ranks may ask for: every rank is a process on this one machine.
constexpr int kMaxWorld = 64;

Status Flags::Validate() {
  const auto at_least = [](const char* name, int64_t value, int64_t minimum) {
    if (value >= minimum) return Status::Ok();
    return Status::InvalidArgument(std::string(name) + " " + std::to_string(value) +
                                   " must be at least " + std::to_string(minimum));
  };
  TS_RETURN_IF_ERROR(at_least("--steps", steps, 1));
  TS_RETURN_IF_ERROR(at_least("--warmup", warmup, 0));
  TS_RETURN_IF_ERROR(at_least("--batch-size", batch_size, 1));
  TS_RETURN_IF_ERROR(at_least("--articles", articles, 1));
  TS_RETURN_IF_ERROR(at_least("--threads", threads, 1));
  if (!(bandwidth_gbit > 0)) {
    return Status::InvalidArgument("--bandwidth-gbit " + std::to_string(bandwidth_gbit) +
                                   " must be positive");
  }
  if (!(latency_us >= 0)) {
    return Status::InvalidArgument("--latency-us " + std::to_string(latency_us) +
                                   " must not be negative");
  }
  worlds.clear();
  std::stringstream list(ranks);
  for (std::string item; std::getline(list, item, ',');) {
    char* end = nullptr;
    const long world = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || world < 1 || world > kMaxWorld) {
      return Status::InvalidArgument("--ranks '" + ranks + "': '" + item +
                                     "' is not a rank count in 1.." + std::to_string(kMaxWorld));
    }
    worlds.push_back(static_cast<int>(world));
  }
  std::sort(worlds.begin(), worlds.end());
  worlds.erase(std::unique(worlds.begin(), worlds.end()), worlds.end());
  if (worlds.empty() || worlds.front() != 1) {
    return Status::InvalidArgument("--ranks '" + ranks +
                                   "' must include 1: the single rank is the baseline of every "
                                   "ratio and of the projection");
  }
  // Every rank needs customers of its own to train on.
  return at_least("--customers", customers, worlds.back());
}

void AddFlags(bench::BenchFlags& parser, Flags& flags) {
  parser.Add("--steps", &flags.steps, "timed steps per configuration");
  parser.Add("--warmup", &flags.warmup, "steps before timing (ids admitted, buffers allocated)");
  parser.Add("--batch-size", &flags.batch_size, "examples per step per rank (like DDP)");
  parser.Add("--articles", &flags.articles, "distinct articles in the stream");
  parser.Add("--customers", &flags.customers, "distinct customers in the stream");
  parser.Add("--ranks", &flags.ranks, "group sizes to run, one after the other (must include 1)");
  parser.Add("--bandwidth-gbit", &flags.bandwidth_gbit,
             "projection: network bandwidth per machine, Gbit/s each way");
  parser.Add("--latency-us", &flags.latency_us,
             "projection: latency of one message between two machines, microseconds");
  parser.Add("--threads", &flags.threads, "LibTorch threads per rank");
  parser.Add("--cover-articles", &flags.cover_articles,
             "1: before the warm-up, buy every article twice, so that each has its own row as "
             "after long training (0: articles are admitted during the run and the rows "
             "exchanged per step grow with it, faster in bigger groups)");
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU time of the calling thread. With one LibTorch thread every operator of a step runs on
// the calling thread, so this is the step's compute, whether or not the rank waited for a core.
double ThreadCpuSeconds() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// ---------------------------------------------------------------------------------------------
// A rank.

// Forwards to the round, adding what the round's stats do not tell: how many calls of each kind
// a step makes (each costs network round trips in the projection) and this thread's CPU time
// inside them (to take out of the step's CPU time: what is left is compute).
class MeasuredExchange final : public model::StepExchange {
 public:
  explicit MeasuredExchange(distributed::GroupRound& round) : round_(round) {}

  int rank() const override { return round_.rank(); }
  int world_size() const override { return round_.world_size(); }
  Result<std::vector<torch::Tensor>> AllGather(const torch::Tensor& local) override {
    const double start = ThreadCpuSeconds();
    Result<std::vector<torch::Tensor>> parts = round_.AllGather(local);
    cpu_seconds_ += ThreadCpuSeconds() - start;
    ++all_gathers_;
    return parts;
  }
  Status AllReduceSum(torch::Tensor& values) override {
    const double start = ThreadCpuSeconds();
    Status status = round_.AllReduceSum(values);
    cpu_seconds_ += ThreadCpuSeconds() - start;
    ++all_reduces_;
    return status;
  }
  model::ExchangeStats stats() const override { return round_.stats(); }

  int64_t all_gathers() const { return all_gathers_; }
  int64_t all_reduces() const { return all_reduces_; }
  double cpu_seconds() const { return cpu_seconds_; }

 private:
  distributed::GroupRound& round_;
  int64_t all_gathers_ = 0;
  int64_t all_reduces_ = 0;
  double cpu_seconds_ = 0;
};

// FNV-1a of everything written: compares the ranks' replicas without holding their bytes.
class HashingBuffer final : public std::streambuf {
 public:
  uint64_t hash() const { return hash_; }

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) Mix(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) Mix(s[i]);
    return n;
  }

 private:
  void Mix(char c) { hash_ = (hash_ ^ static_cast<unsigned char>(c)) * 1099511628211ull; }
  uint64_t hash_ = 1469598103934665603ull;
};

bench::SyntheticOptions StreamOptions(const Flags& flags) {
  bench::SyntheticOptions options;
  options.customers = flags.customers;
  options.articles = flags.articles;
  options.history = model::ModelOptions().history_length;
  return options;
}

// This rank's batches: its partition of the stream, in stream order, cut into batches. Made
// before any step, so that no rank makes the others wait while it generates.
std::vector<std::vector<model::Example>> OwnBatches(const Flags& flags, int rank, int world) {
  bench::SyntheticExamples stream(StreamOptions(flags));
  std::vector<std::vector<model::Example>> batches(static_cast<size_t>(flags.warmup + flags.steps));
  for (auto& batch : batches) {
    batch.reserve(static_cast<size_t>(flags.batch_size));
    while (static_cast<int64_t>(batch.size()) < flags.batch_size) {
      model::Example e = stream.Next();
      if (e.customer_key % world == rank) batch.push_back(std::move(e));
    }
  }
  return batches;
}

// What a rank's timed steps took, summed over them.
struct Timed {
  int64_t examples = 0;
  double seconds = 0;      // wall time inside the training calls
  double cpu_seconds = 0;  // this thread's CPU time inside them
  double last_loss = 0;
};

Status TrainTimed(model::TwoTowerModel& model, MeasuredExchange* group,
                  const std::vector<model::Example>& batch, Timed& timed) {
  const auto start = Clock::now();
  const double cpu_start = ThreadCpuSeconds();
  Result<model::StepStats> step =
      group != nullptr ? model.TrainInGroup(batch, *group) : model.Train(batch);
  timed.cpu_seconds += ThreadCpuSeconds() - cpu_start;
  timed.seconds += Seconds(Clock::now() - start);
  if (!step.ok()) return step.status();
  timed.examples += step->examples;
  timed.last_loss = step->loss;
  return Status::Ok();
}

// Buys every article twice (admit_after is 2), in group steps of world x batch_size examples of
// which this rank trains its customers' share. Without it, a bigger group, which sees more of
// the stream per step, admits articles sooner and so exchanges more distinct rows per step: the
// worlds would not be compared at the same point of training.
Status CoverArticles(const Flags& flags, int rank, int world, model::TwoTowerModel& model,
                     MeasuredExchange& group, model::TwoTowerModel* plain) {
  // A stream of its own (same article codes), so that the measured stream is the same in every
  // world whatever the covering drew.
  bench::SyntheticExamples covering(StreamOptions(flags));
  const int64_t examples = 2 * flags.articles;
  const int64_t per_step = world * flags.batch_size;
  Timed ignored;
  std::vector<model::Example> batch;
  for (int64_t start = 0; start < examples; start += per_step) {
    batch.clear();
    for (int64_t i = start; i < std::min(examples, start + per_step); ++i) {
      model::Example e = covering.Covering(i);
      if (e.customer_key % world == rank) batch.push_back(std::move(e));
    }
    // Every rank takes part in every step, also with no example of its own.
    TS_RETURN_IF_ERROR(TrainTimed(model, &group, batch, ignored));
    if (plain != nullptr && !batch.empty()) {
      TS_RETURN_IF_ERROR(TrainTimed(*plain, nullptr, batch, ignored));
    }
  }
  return Status::Ok();
}

Status RunRank(const Flags& flags, const RankFlags& rank_flags) {
  at::set_num_threads(static_cast<int>(flags.threads));
  // OpenBLAS's own pool would spin against the other ranks for the same cores.
  model::LimitBlasThreads(1);
  const int rank = static_cast<int>(rank_flags.rank);
  const int world = static_cast<int>(rank_flags.world_size);
  const std::vector<std::vector<model::Example>> batches = OwnBatches(flags, rank, world);

  // The default model, as trainer_bench and the trainer build it.
  const model::ModelOptions options;
  TS_ASSIGN_OR_RETURN(std::unique_ptr<model::TwoTowerModel> model,
                      model::TwoTowerModel::Create(options));
  std::unique_ptr<model::TwoTowerModel> plain;
  if (world == 1) {
    TS_ASSIGN_OR_RETURN(plain, model::TwoTowerModel::Create(options));
  }

  distributed::GroupOptions group_options;
  group_options.world_size = world;
  group_options.rank = rank;
  group_options.rendezvous = rank_flags.rendezvous;
  // A rank that dies or hangs ends the run within a minute, not after the defaults' 2 and 10.
  group_options.collective_timeout = std::chrono::seconds(60);
  group_options.rendezvous_timeout = std::chrono::seconds(60);
  TS_ASSIGN_OR_RETURN(std::unique_ptr<distributed::GroupMember> member,
                      distributed::GroupMember::Create(group_options));
  TS_ASSIGN_OR_RETURN(std::unique_ptr<distributed::GroupRound> round, member->JoinRound());
  MeasuredExchange exchange(*round);

  if (flags.cover_articles > 0) {
    TS_RETURN_IF_ERROR(CoverArticles(flags, rank, world, *model, exchange, plain.get()));
  }
  Timed ignored;
  for (int64_t s = 0; s < flags.warmup; ++s) {
    TS_RETURN_IF_ERROR(TrainTimed(*model, &exchange, batches[s], ignored));
    if (plain) TS_RETURN_IF_ERROR(TrainTimed(*plain, nullptr, batches[s], ignored));
  }
  // The timed steps start together on every rank, and the barrier is not counted.
  TS_RETURN_IF_ERROR(round->Barrier());
  const model::ExchangeStats before = exchange.stats();
  const int64_t gathers_before = exchange.all_gathers();
  const int64_t reduces_before = exchange.all_reduces();
  const double collective_cpu_before = exchange.cpu_seconds();

  // World 1 alternates the group of one with plain Train() in blocks of steps: both then see the
  // same machine (other work on it, frequency changes). Blocks rather than single steps, because
  // each model evicts the other's tables from the caches: switching every 10 steps added 12% to
  // the group's CPU time per step (5% to plain's); every 50, only a step or two of each block
  // starts cold.
  constexpr int64_t kAlternateEvery = 50;
  Timed group_timed, plain_timed;  // plain_timed: Train()'s, at world 1
  for (int64_t s = 0; s < flags.steps; s += kAlternateEvery) {
    const int64_t end = std::min(flags.steps, s + kAlternateEvery);
    for (int64_t i = s; i < end; ++i) {
      TS_RETURN_IF_ERROR(TrainTimed(*model, &exchange, batches[flags.warmup + i], group_timed));
    }
    for (int64_t i = s; plain && i < end; ++i) {
      TS_RETURN_IF_ERROR(TrainTimed(*plain, nullptr, batches[flags.warmup + i], plain_timed));
    }
  }
  const model::ExchangeStats after = exchange.stats();
  const double collective_cpu = exchange.cpu_seconds() - collective_cpu_before;

  // The group promises bit-identical replicas: figures of a group that drifted apart are void.
  HashingBuffer hashing;
  std::ostream hash_stream(&hashing);
  TS_RETURN_IF_ERROR(model->WriteReplicatedState(hash_stream));
  const uint64_t hash = hashing.hash();
  TS_ASSIGN_OR_RETURN(
      const std::vector<std::string> hashes,
      round->AllGatherBytes(std::string_view(reinterpret_cast<const char*>(&hash), sizeof(hash))));
  const bool identical = std::all_of(hashes.begin(), hashes.end(),
                                     [&](const std::string& h) { return h == hashes.front(); });
  // Leaves together: a rank that exits while another still reads the last collective would
  // break it.
  TS_RETURN_IF_ERROR(round->Barrier());

  std::ofstream out(rank_flags.result);
  const auto put = [&](const char* key, double value) { out << key << ' ' << value << '\n'; };
  out.precision(17);
  put("steps", static_cast<double>(flags.steps));
  put("examples", static_cast<double>(group_timed.examples));
  put("seconds", group_timed.seconds);
  put("compute_cpu_seconds", group_timed.cpu_seconds - collective_cpu);
  put("collective_seconds", after.seconds - before.seconds);
  put("collectives", static_cast<double>(after.collectives - before.collectives));
  put("all_gathers", static_cast<double>(exchange.all_gathers() - gathers_before));
  put("all_reduces", static_cast<double>(exchange.all_reduces() - reduces_before));
  put("bytes_sent", static_cast<double>(after.bytes_sent - before.bytes_sent));
  put("bytes_received", static_cast<double>(after.bytes_received - before.bytes_received));
  put("loss", group_timed.last_loss);
  put("identical", identical ? 1 : 0);
  if (plain) {
    put("plain_examples", static_cast<double>(plain_timed.examples));
    put("plain_seconds", plain_timed.seconds);
    put("plain_cpu_seconds", plain_timed.cpu_seconds);
    put("plain_loss", plain_timed.last_loss);
  }
  out.close();
  if (!out) return Status::IoError("cannot write the figures to " + rank_flags.result);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// The parent.

volatile sig_atomic_t g_interrupted = 0;

void OnInterrupt(int) { g_interrupted = 1; }

// A 127.0.0.1 port nothing listens on now, for rank 0's rendezvous store. Another process may
// take it before rank 0 binds it: RunWorld then tries another.
int UnusedLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

struct RankProcess {
  int rank = 0;
  pid_t pid = -1;
  fs::path log;     // its stdout and stderr
  fs::path result;  // its figures
  bool done = false;
  bool ended_by_us = false;  // killed because another rank failed: not a cause
  int status = 0;            // waitpid's
};

bool Succeeded(const RankProcess& p) { return WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0; }

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           ::strsignal(WTERMSIG(status)) + ")";
  }
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Starts `argv` with stdout and stderr into `log`. The child gets SIGKILL when the parent dies,
// however it dies, so that no rank outlives the bench.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::IoError("cannot create " + log.string() + ": " + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec. The parent may have died before prctl took hold.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(fd);
  if (pid < 0) return Status::Internal(std::string("fork failed: ") + std::strerror(fork_errno));
  return pid;
}

// Waits for every started rank. The first that fails, an interrupt or `stop` ends the others at
// once: they would otherwise wait out the collective timeout for a rank that is gone. Every child
// is reaped.
void WaitForRanks(std::vector<RankProcess>& ranks, bool stop) {
  for (size_t running = ranks.size(); running > 0;) {
    for (RankProcess& p : ranks) {
      if (p.done || ::waitpid(p.pid, &p.status, WNOHANG) != p.pid) continue;
      p.done = true;
      --running;
      stop = stop || !Succeeded(p);
    }
    if (running == 0) break;
    if (stop || g_interrupted) {
      for (RankProcess& p : ranks) {
        if (!p.done) ::kill(p.pid, SIGKILL);
      }
      for (RankProcess& p : ranks) {
        if (p.done) continue;
        while (::waitpid(p.pid, &p.status, 0) < 0 && errno == EINTR) {
        }
        p.done = true;
        p.ended_by_us = true;
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The command line of rank `rank`: --rank first (how main tells a rank), and the flags that
// shape its work.
std::vector<std::string> RankArgv(const Flags& flags, int rank, int world, int port,
                                  const fs::path& result) {
  std::vector<std::string> argv = {fs::read_symlink("/proc/self/exe").string()};
  const auto add = [&](const char* name, std::string value) {
    argv.push_back(name);
    argv.push_back(std::move(value));
  };
  add("--rank", std::to_string(rank));
  add("--world-size", std::to_string(world));
  add("--rendezvous", "127.0.0.1:" + std::to_string(port));
  add("--result", result.string());
  add("--steps", std::to_string(flags.steps));
  add("--warmup", std::to_string(flags.warmup));
  add("--batch-size", std::to_string(flags.batch_size));
  add("--articles", std::to_string(flags.articles));
  add("--customers", std::to_string(flags.customers));
  add("--threads", std::to_string(flags.threads));
  add("--cover-articles", std::to_string(flags.cover_articles));
  return argv;
}

using Figures = std::map<std::string, double>;

// Runs one world of `world` ranks; returns each rank's figures.
Result<std::vector<Figures>> RunWorld(const Flags& flags, int world, const fs::path& work) {
  constexpr int kPortTries = 3;
  for (int attempt = 1;; ++attempt) {
    const int port = UnusedLoopbackPort();
    if (port == 0) return Status::Unavailable("no free loopback port for the rendezvous store");
    std::vector<RankProcess> ranks(static_cast<size_t>(world));
    Status spawned = Status::Ok();
    for (int r = 0; r < world && spawned.ok(); ++r) {
      RankProcess& p = ranks[static_cast<size_t>(r)];
      p.rank = r;
      const std::string name = std::to_string(world) + "-" + std::to_string(r);
      p.log = work / ("rank-" + name + ".log");
      p.result = work / ("rank-" + name + ".figures");
      const std::vector<std::string> argv = RankArgv(flags, r, world, port, p.result);
      Result<pid_t> pid = Spawn(argv, p.log);
      if (pid.ok()) {
        p.pid = *pid;
      } else {
        spawned = pid.status();
      }
    }
    // A rank that could not start: the others, already started, wait for it in vain.
    std::erase_if(ranks, [](const RankProcess& p) { return p.pid < 0; });
    WaitForRanks(ranks, /*stop=*/!spawned.ok());
    if (!spawned.ok()) return spawned;
    if (g_interrupted) return Status::Unavailable("interrupted");

    const bool all_ok = std::all_of(ranks.begin(), ranks.end(), Succeeded);
    if (!all_ok) {
      const std::string rank0_log = ReadFile(ranks[0].log);
      if (attempt < kPortTries && !Succeeded(ranks[0]) &&
          rank0_log.find("cannot host the rendezvous store") != std::string::npos) {
        continue;  // someone took the port: another one
      }
      std::string message = "the group of " + std::to_string(world) + " failed:";
      for (const RankProcess& p : ranks) {
        if (p.ended_by_us || Succeeded(p)) continue;
        message += "\n--- rank " + std::to_string(p.rank) + " (" + DescribeExit(p.status) +
                   "), its output:\n" + ReadFile(p.log);
      }
      return Status::Internal(message);
    }
    std::vector<Figures> figures;
    for (const RankProcess& p : ranks) {
      std::ifstream in(p.result);
      Figures f;
      std::string key;
      double value = 0;
      while (in >> key >> value) f[key] = value;
      if (f.count("examples") == 0 || f["steps"] <= 0) {
        return Status::Corruption("rank " + std::to_string(p.rank) + " of " +
                                  std::to_string(world) + " left no figures in " +
                                  p.result.string());
      }
      figures.push_back(std::move(f));
    }
    return figures;
  }
}

// A world's figures, averaged over its ranks; per step where it says so.
struct World {
  int ranks = 0;
  double per_rank_rate = 0;  // examples/s of one rank
  double group_rate = 0;     // the ranks' examples over the slowest rank's seconds
  double step_seconds = 0;   // wall
  double collective_seconds = 0;
  double compute_seconds = 0;  // the step's compute (see Summarize)
  double bytes_sent = 0;
  double bytes_received = 0;
  double collectives = 0;
  double all_gathers = 0;
  double all_reduces = 0;
  bool identical = true;
  double loss = 0;                   // rank 0's last
  double plain_rate = 0;             // world 1: plain Train() on the same batches
  double plain_compute_seconds = 0;  // per step, as compute_seconds
  double plain_loss = 0;
};

World Summarize(int ranks, const std::vector<Figures>& figures, int64_t threads) {
  World w;
  w.ranks = ranks;
  double examples = 0, slowest = 0;
  const double n = static_cast<double>(figures.size());
  for (const Figures& f : figures) {
    const double steps = f.at("steps");
    examples += f.at("examples");
    slowest = std::max(slowest, f.at("seconds"));
    w.per_rank_rate += f.at("examples") / f.at("seconds") / n;
    w.step_seconds += f.at("seconds") / steps / n;
    w.collective_seconds += f.at("collective_seconds") / steps / n;
    // One thread: its CPU time outside collectives is the compute, also when ranks outnumber
    // cores and wait for one. More threads spread it over the pool, which the calling thread's
    // clock misses: then wall time outside collectives.
    w.compute_seconds += (threads == 1 ? f.at("compute_cpu_seconds")
                                       : f.at("seconds") - f.at("collective_seconds")) /
                         steps / n;
    w.bytes_sent += f.at("bytes_sent") / steps / n;
    w.bytes_received += f.at("bytes_received") / steps / n;
    w.collectives += f.at("collectives") / steps / n;
    w.all_gathers += f.at("all_gathers") / steps / n;
    w.all_reduces += f.at("all_reduces") / steps / n;
    w.identical = w.identical && f.at("identical") == 1;
  }
  w.group_rate = examples / slowest;
  w.loss = figures.front().at("loss");
  if (figures.front().count("plain_seconds") > 0) {
    w.plain_rate = figures.front().at("plain_examples") / figures.front().at("plain_seconds");
    w.plain_loss = figures.front().at("plain_loss");
    w.plain_compute_seconds = (threads == 1 ? figures.front().at("plain_cpu_seconds")
                                            : figures.front().at("plain_seconds")) /
                              figures.front().at("steps");
  }
  return w;
}

std::string Kb(double bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f KB", bytes / 1000);
  return text;
}

// Least squares y = a + b x; with one point, the line through the origin and it.
void FitLine(const std::vector<double>& x, const std::vector<double>& y, double& a, double& b) {
  const double n = static_cast<double>(x.size());
  if (x.size() == 1) {
    a = 0;
    b = x[0] != 0 ? y[0] / x[0] : 0;
    return;
  }
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sx += x[i], sy += y[i], sxx += x[i] * x[i], sxy += x[i] * y[i];
  }
  b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  a = (sy - b * sx) / n;
}

void PrintMeasured(const Flags& flags, const std::vector<World>& worlds) {
  const World& one = worlds.front();
  std::printf(
      "\nmeasured (mean over ranks; compute = the training thread's CPU time outside "
      "collectives%s;\n  the rest of a step outside collectives is waiting for a core)\n",
      flags.threads == 1 ? "" : ", here wall time as --threads > 1");
  std::printf(
      "  ranks  examples/s/rank  vs 1 rank  group examples/s  step ms  in collectives  compute ms"
      "  bytes/step/rank (sent+recv)  collectives/step\n");
  for (const World& w : worlds) {
    std::printf("  %5d  %15s  %8.2fx  %16s  %7.2f  %13.1f%%  %10.2f  %27s  %16.1f\n", w.ranks,
                FormatCount(static_cast<int64_t>(w.per_rank_rate)).c_str(),
                w.per_rank_rate / one.per_rank_rate,
                FormatCount(static_cast<int64_t>(w.group_rate)).c_str(), 1000 * w.step_seconds,
                100 * w.collective_seconds / w.step_seconds, 1000 * w.compute_seconds,
                Kb(w.bytes_sent + w.bytes_received).c_str(), w.collectives);
  }
  std::printf(
      "  world 1, plain Train() on the same batches: %s examples/s, compute %.2f ms/step; the "
      "group of one runs at %.2fx of it\n  (%.2fx by compute)\n",
      FormatCount(static_cast<int64_t>(one.plain_rate)).c_str(), 1000 * one.plain_compute_seconds,
      one.per_rank_rate / one.plain_rate, one.plain_compute_seconds / one.compute_seconds);
  std::string losses;
  for (const World& w : worlds) {
    char text[64];
    std::snprintf(text, sizeof(text), "%s%d ranks %.3f", losses.empty() ? "" : ", ", w.ranks,
                  w.loss);
    losses += text;
  }
  std::printf("  last step's loss: %s (plain %.3f); replicas bit-identical after every run\n",
              losses.c_str(), one.plain_loss);
}

void PrintProjection(const Flags& flags, const std::vector<World>& worlds) {
  const World& one = worlds.front();
  std::vector<double> extra_ranks, gathered, compute_x, compute_y;
  for (const World& w : worlds) {
    compute_x.push_back(w.ranks - 1);
    compute_y.push_back(w.compute_seconds);
    if (w.ranks == 1) continue;
    extra_ranks.push_back(w.ranks - 1);
    // At world 1 every received byte is the all-reduce's (an all-gather receives only the
    // others' parts), so the rest is what the all-gathers brought.
    gathered.push_back(w.bytes_received - one.bytes_received);
  }
  if (extra_ranks.empty()) {
    std::printf("\nno projection: --ranks has no group larger than 1 to fit the traffic on\n");
    return;
  }
  // Dense gradients: each rank sends and receives 2(M-1)/M of them in Gloo's ring all-reduce.
  const double dense = one.bytes_received;
  // The all-gathers' part grows with every rank whose rows and articles each rank receives.
  double gather_a = 0, gather_b = 0;
  FitLine(extra_ranks, gathered, gather_a, gather_b);
  // The replicated work (catalogue, frequency estimate and row updates of the whole group's
  // batch) grows with M too; the compute of one rank's own batch does not.
  double compute_a = 0, compute_b = 0;
  FitLine(compute_x, compute_y, compute_a, compute_b);
  compute_b = std::max(0.0, compute_b);
  // Compute as measured (CPU time with one thread): a machine of its own would not make a rank
  // wait for a core as this shared one may.
  const double single_compute = one.compute_seconds;
  const double bytes_per_second = flags.bandwidth_gbit * 1e9 / 8;
  const double latency = flags.latency_us * 1e-6;
  // Messages per extra rank on a ring: a variable-size all-gather is two (sizes, then parts)
  // of M-1 hops each; an all-reduce is a reduce-scatter and an all-gather, 2(M-1) hops.
  const double hops_per_extra_rank = 2 * one.all_gathers + 2 * one.all_reduces;
  const double batch = static_cast<double>(flags.batch_size);

  std::printf(
      "\nprojection to M machines, one rank each (assumes: compute per step = the 1-rank "
      "group's compute, %.2f ms,\n"
      "  + %.3f ms per extra rank for the replicated updates (fit of compute above); received "
      "per rank per step = ring all-reduce\n"
      "  2(M-1)/M x %s + all-gathers (%s + %s x (M-1), fit on %zu group size%s); %.3g Gbit/s, "
      "%.3g us per message, %.0f messages\n"
      "  per extra rank per step; nothing overlapped; efficiency against M x the group of one's "
      "compute, and M x plain Train())\n",
      1000 * single_compute, 1000 * compute_b, Kb(dense).c_str(), Kb(gather_a).c_str(),
      Kb(gather_b).c_str(), extra_ranks.size(), extra_ranks.size() > 1 ? "s" : "",
      flags.bandwidth_gbit, flags.latency_us, hops_per_extra_rank);
  std::printf(
      "      M  received/step/rank  compute ms  transfer ms  latency ms  step ms  group "
      "examples/s  vs group of 1  vs plain\n");
  struct Step {
    double compute, transfer, latency, dense_transfer;
  };
  const auto project = [&](int m) {
    const double extra = m - 1;
    const double dense_wire = dense * 2 * extra / m;
    const double gathered_wire = m > 1 ? gather_a + gather_b * extra : 0;
    return Step{single_compute + compute_b * extra, (dense_wire + gathered_wire) / bytes_per_second,
                latency * hops_per_extra_rank * extra, dense_wire / bytes_per_second};
  };
  const int machines[] = {1, 2, 4, 8, 16, 32};
  for (int m : machines) {
    const Step s = project(m);
    const double step = s.compute + s.transfer + s.latency;
    const double rate = m * batch / step;
    std::printf("  %5d  %18s  %10.2f  %11.2f  %10.2f  %7.2f  %17s  %12.0f%%  %7.0f%%\n", m,
                Kb(s.transfer * bytes_per_second).c_str(), 1000 * s.compute, 1000 * s.transfer,
                1000 * s.latency, 1000 * step, FormatCount(static_cast<int64_t>(rate)).c_str(),
                100 * rate / (m * batch / single_compute),
                100 * rate / (m * batch / one.plain_compute_seconds));
  }
  // Where the network starts to cost more than the compute it serves.
  int crossover = 0;
  for (int m = 2; m <= 4096 && crossover == 0; ++m) {
    const Step s = project(m);
    if (s.transfer + s.latency >= s.compute) crossover = m;
  }

  // What grows with M, per extra rank, against the flat part of the step.
  const double gather_per_rank = gather_b / bytes_per_second;
  const double latency_per_rank = latency * hops_per_extra_rank;
  struct Term {
    const char* what;
    double seconds;
  };
  Term terms[] = {
      {"receiving every other rank's article rows, code rows and batch articles (all-gathers)",
       gather_per_rank},
      {"applying every rank's row updates and articles on every replica (compute)", compute_b},
      {"message latency of the ring collectives", latency_per_rank}};
  std::sort(std::begin(terms), std::end(terms),
            [](const Term& a, const Term& b) { return a.seconds > b.seconds; });
  const Step last = project(machines[std::size(machines) - 1]);
  std::printf(
      "\nwhat limits scaling: per extra rank a step grows by %.3f ms of all-gathered bytes, "
      "%.3f ms of replicated compute and\n"
      "  %.3f ms of latency, against %.2f ms of flat compute; the dense all-reduce stays under "
      "2 x %s (%.2f ms at M=%d).\n"
      "  Largest: %s;\n"
      "  the network takes longer than the compute from M = %s on.\n",
      1000 * gather_per_rank, 1000 * compute_b, 1000 * latency_per_rank, 1000 * single_compute,
      Kb(dense).c_str(), 1000 * last.dense_transfer, machines[std::size(machines) - 1],
      terms[0].what, crossover > 0 ? std::to_string(crossover).c_str() : "beyond 4096");
}

int RunParent(const Flags& flags) {
  // Ctrl-C reaches the ranks too (same process group); SIGTERM and SIGHUP reach only the parent,
  // which then ends them before leaving.
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal, &action, nullptr);

  const fs::path work = fs::temp_directory_path() / ("group_bench_" + std::to_string(::getpid()));
  fs::create_directories(work);
  struct RemoveOnExit {
    fs::path path;
    ~RemoveOnExit() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } remove_on_exit{work};

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf(
      "group_bench: TwoTowerModel::TrainInGroup (default model), ranks as processes on loopback "
      "(Gloo);\n"
      "  %lld LibTorch thread%s per rank on %u cores; batch %lld per rank, %lld timed steps "
      "after %lld warm-up%s;\n"
      "  stream: %s articles, %s customers, partitioned by customer (c %% ranks)\n",
      static_cast<long long>(flags.threads), flags.threads == 1 ? "" : "s", cores,
      static_cast<long long>(flags.batch_size), static_cast<long long>(flags.steps),
      static_cast<long long>(flags.warmup),
      flags.cover_articles > 0 ? " (after every article was bought twice)" : "",
      FormatCount(flags.articles).c_str(), FormatCount(flags.customers).c_str());
  if (flags.worlds.back() * flags.threads > static_cast<int64_t>(cores)) {
    std::printf(
        "  more ranks than cores share them: per-rank wall figures then fall by CPU sharing, "
        "not by the group\n");
  }
  std::fflush(stdout);

  std::vector<World> worlds;
  for (int world : flags.worlds) {
    std::fprintf(stderr, "group_bench: %d rank%s...\n", world, world == 1 ? "" : "s");
    const auto start = Clock::now();
    Result<std::vector<Figures>> figures = RunWorld(flags, world, work);
    if (!figures.ok()) {
      std::fprintf(stderr, "group_bench: %s\n", figures.status().message().c_str());
      return g_interrupted ? 130 : 1;
    }
    worlds.push_back(Summarize(world, *figures, flags.threads));
    std::fprintf(stderr, "group_bench: %d rank%s done in %.1f s\n", world, world == 1 ? "" : "s",
                 Seconds(Clock::now() - start));
    if (!worlds.back().identical) {
      std::fprintf(stderr,
                   "group_bench: the %d ranks' replicated state differs after training: "
                   "TrainInGroup is broken, its figures mean nothing\n",
                   world);
      return 1;
    }
  }
  PrintMeasured(flags, worlds);
  PrintProjection(flags, worlds);
  return 0;
}

}  // namespace
}  // namespace towerstream

int main(int argc, char** argv) {
  towerstream::Flags flags;
  towerstream::RankFlags rank_flags;
  // The parent starts its ranks with --rank first; users never pass it, so --help leaves it out.
  const bool is_rank = argc > 1 && std::string(argv[1]) == "--rank";
  towerstream::bench::BenchFlags parser(is_rank ? "group_bench (rank)" : "group_bench");
  towerstream::AddFlags(parser, flags);
  if (is_rank) {
    parser.Add("--rank", &rank_flags.rank, "this rank");
    parser.Add("--world-size", &rank_flags.world_size, "ranks in the group");
    parser.Add("--rendezvous", &rank_flags.rendezvous, "HOST:PORT of rank 0's store");
    parser.Add("--result", &rank_flags.result, "file for this rank's figures");
  }
  if (!parser.Parse(argc, argv)) {
    const bool help = std::any_of(argv + 1, argv + argc,
                                  [](const char* arg) { return std::string(arg) == "--help"; });
    if (!is_rank && help) {
      std::fprintf(stderr,
                   "\nRuns a trainer group of each --ranks size on loopback (each rank a process "
                   "with --threads LibTorch threads,\ntraining its customers' share of one "
                   "synthetic stream), prints examples/s per rank, the share of step time\nin "
                   "collectives and the bytes per step, and projects throughput on M machines "
                   "from them.\n");
    }
    return 2;
  }
  const towerstream::Status valid = flags.Validate();
  if (!valid.ok()) {
    std::fprintf(stderr, "group_bench: %s\n", valid.message().c_str());
    return 2;
  }
  try {
    if (!is_rank) return towerstream::RunParent(flags);
    const towerstream::Status status = towerstream::RunRank(flags, rank_flags);
    if (!status.ok()) {
      std::fprintf(stderr, "group_bench: rank %lld of %lld: %s\n",
                   static_cast<long long>(rank_flags.rank),
                   static_cast<long long>(rank_flags.world_size), status.ToString().c_str());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "group_bench: %s\n", e.what());
    return 1;
  }
}
