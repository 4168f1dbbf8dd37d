// GroupMember: the rendezvous store and the protocol that forms rounds on it.
//
// The store (c10d's TCPStore, hosted by rank 0) holds a counter "round" and, per round r,
// "round/r/rank/K" (how many processes of rank K registered in r) and "round/r/joined". A joiner
// reads r, takes its rank's slot, registers, and waits until r is sealed, then forms the Gloo
// group on the keys under "round/r/gloo". Each round ends in exactly one of two states, decided by
// the single key "round/r/joined", so that all of its registrants take the same way:
//   sealed:   joined reached world_size (every rank registered once): all of them form the group;
//   poisoned: someone set joined to kPoisoned while it was below world_size: all of them leave,
//             and registrations that come after see a negative count and leave too.
// Registering is add(joined, 1); poisoning is compareSet(joined, v, kPoisoned) from a v below
// world_size, which fails once the round is sealed. A round is poisoned by
//   - a second process of one rank (the slot count is 2): the first registered and died, and
//     must not be counted; without this the round would seal with a dead member;
//   - a waiter that sees the counter moved past r (its round can no longer fill up), or that
//     gives up (stop, rendezvous_timeout), so that nobody forms a group counting on it.
// Whoever poisons or leaves a round bumps the counter (compareSet r -> r+1: one bump wins).
// A member that formed round r starts its next join at r+1 at least (raising the counter if
// needed), which both moves survivors of a failed round on and, after rank 0 restarted with an
// empty store, keeps round numbers growing. What the protocol cannot tell is a rank that dies
// after its round is sealed: forming the group then fails within collective_timeout, and the
// others move on to the next round. A rank that dies while registered and is never restarted
// holds the others until rendezvous_timeout. Keys of earlier rounds stay in the store: they are
// never read again (every name carries its round), and rounds change only when ranks fail.
//
// Every rank connects to the store for each attempt at a round only, and rounds keep no reference
// to it: c10d 1.13's store client spins a thread at full speed once its server is gone (its
// callback thread polls a closed socket), which a long-lived connection would do for as long as
// training runs after rank 0 died; and a call that timed out leaves a connection whose next
// answer may be the late one, which a fresh connection cannot confuse.
#include <unistd.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/distributed/group.h"
#include "common/distributed/internal.h"

namespace towerstream::distributed {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kRoundKey = "round";
// Written by rank 0 when it starts the store; a client's first call waits for it (see Connect).
constexpr std::string_view kHostKey = "host";
// Far below zero, so that registrations arriving after it (add 1 each) never make it look valid.
constexpr int64_t kPoisoned = -(int64_t{1} << 40);
// Between polls of a round's count while waiting for the others.
constexpr auto kPollInterval = std::chrono::milliseconds(10);
// Between attempts to reach a store that refused or failed (rank 0 restarting). c10d logs each
// refused connection, so not much shorter.
constexpr auto kRetryPause = std::chrono::milliseconds(200);
// One connection attempt; c10d counts it in whole seconds and returns at once when refused.
constexpr auto kConnectTimeout = std::chrono::seconds(1);

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }
std::vector<uint8_t> Bytes(int64_t value) { return Bytes(std::to_string(value)); }

// The store keeps counters as decimal text (add() writes them so).
int64_t ParseCount(const std::string& key, const std::vector<uint8_t>& bytes) {
  const char* begin = reinterpret_cast<const char*>(bytes.data());
  int64_t value = 0;
  const auto [end, error] = std::from_chars(begin, begin + bytes.size(), value);
  if (bytes.empty() || error != std::errc() || end != begin + bytes.size()) {
    throw std::runtime_error("store key '" + key + "' holds '" + std::string(begin, bytes.size()) +
                             "', not a count");
  }
  return value;
}

std::string RoundKey(int64_t round, std::string_view name) {
  return "round/" + std::to_string(round) + "/" + std::string(name);
}

// Sleeps for `duration`, less when `deadline` comes first, and returns early on stop.
void Pause(Clock::duration duration, const std::stop_token& stop, Clock::time_point deadline) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_until(lock, stop, std::min(Clock::now() + duration, deadline), [] { return false; });
}

// Sets `key` (a round's joined count, last read as `seen`) to kPoisoned unless the round is
// sealed. Returns whether the round is poisoned now (false: it is sealed and goes ahead).
bool Poison(c10d::Store& store, const std::string& key, int64_t seen, int world_size) {
  while (true) {
    if (seen < 0) return true;
    if (seen >= world_size) return false;
    // compareSet returns the value after the call: kPoisoned if this or another poisoning won,
    // a higher count if a registration came first (try again from there).
    seen = ParseCount(key, store.compareSet(key, Bytes(seen), Bytes(kPoisoned)));
  }
}

// Moves the round counter from `round` to `round + 1`; losing to another bump is fine.
void Bump(c10d::Store& store, int64_t round) {
  store.compareSet(std::string(kRoundKey), Bytes(round), Bytes(round + 1));
}

// A c10d store that forwards to another until Detach(): the process group keeps its store for
// its whole life but needs it only while it connects, and must not keep a connection to rank 0
// open (see the top of this file). Used by the thread forming the group only.
class DetachableStore : public c10d::Store {
 public:
  DetachableStore(c10::intrusive_ptr<c10d::Store> inner, std::chrono::milliseconds timeout)
      : c10d::Store(timeout), inner_(std::move(inner)) {}

  void Detach() { inner_.reset(); }

  void set(const std::string& key, const std::vector<uint8_t>& value) override {
    Inner().set(key, value);
  }
  std::vector<uint8_t> compareSet(const std::string& key, const std::vector<uint8_t>& expected,
                                  const std::vector<uint8_t>& desired) override {
    return Inner().compareSet(key, expected, desired);
  }
  std::vector<uint8_t> get(const std::string& key) override { return Inner().get(key); }
  int64_t add(const std::string& key, int64_t value) override { return Inner().add(key, value); }
  bool deleteKey(const std::string& key) override { return Inner().deleteKey(key); }
  bool check(const std::vector<std::string>& keys) override { return Inner().check(keys); }
  int64_t getNumKeys() override { return Inner().getNumKeys(); }
  void wait(const std::vector<std::string>& keys) override { Inner().wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override {
    Inner().wait(keys, timeout);
  }

 private:
  c10d::Store& Inner() {
    if (!inner_) throw std::runtime_error("the round's store was detached after it formed");
    return *inner_;
  }

  c10::intrusive_ptr<c10d::Store> inner_;
};

}  // namespace

struct GroupMember::State {
  GroupOptions options;
  internal::HostPort store_address;
  std::string store_name;  // HOST:PORT as configured, for messages
  // Rank 0 only: the store's server, for the process's lifetime: the other ranks lose every key
  // when it goes. Rank 0 joins through a client of its own like the others (Connect), so that a
  // call that timed out never leaves a connection out of step with its answers.
  c10::intrusive_ptr<c10d::TCPStore> hosted;
  int64_t last_round = -1;  // the round this member formed last

  // How one try at a round ended.
  struct Attempt {
    c10::intrusive_ptr<c10d::ProcessGroupGloo> group;  // set: formed
    int64_t round = -1;
    Status gave_up;       // not OK: stop or deadline, returned as is
    std::string problem;  // neither: why the next round is tried
  };

  std::string Self() const {
    return "group rank " + std::to_string(options.rank) + " of " +
           std::to_string(options.world_size);
  }

  // A fresh connection to the store for one attempt (throws when it cannot be reached).
  c10::intrusive_ptr<c10d::Store> Connect() {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(store_address.port);
    store_options.isServer = false;
    store_options.waitWorkers = false;
    store_options.timeout = kConnectTimeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(store_address.host, store_options);
    store->setTimeout(options.collective_timeout);
    // c10d 1.13 bounds a call's wait for the store's answer (SO_RCVTIMEO) only inside wait()
    // and get(), and leaves the bound on the socket afterwards; add() and compareSet() would
    // otherwise block forever on a rank 0 that hangs. This first wait sets it, and shows that
    // the store answers.
    store->wait({std::string(kHostKey)}, options.collective_timeout);
    return store;
  }

  Attempt TryRound(const c10::intrusive_ptr<c10d::Store>& store_ptr, const std::stop_token& stop,
                   Clock::time_point deadline) {
    c10d::Store& store = *store_ptr;
    const int world = options.world_size;
    Attempt attempt;
    const std::string round_key(kRoundKey);
    int64_t round = store.add(round_key, 0);
    while (round < last_round + 1) {
      store.compareSet(round_key, Bytes(round), Bytes(last_round + 1));
      round = store.add(round_key, 0);
    }
    attempt.round = round;
    const std::string joined_key = RoundKey(round, "joined");
    if (store.add(RoundKey(round, "rank/" + std::to_string(options.rank)), 1) > 1) {
      Poison(store, joined_key, store.add(joined_key, 0), world);
      Bump(store, round);
      attempt.problem = "round " + std::to_string(round) +
                        " already counted an earlier process of this rank; it is abandoned";
      return attempt;
    }
    int64_t joined = store.add(joined_key, 1);
    while (joined < world) {
      if (joined < 0) {
        Bump(store, round);
        attempt.problem = "round " + std::to_string(round) + " was abandoned by another rank";
        return attempt;
      }
      const bool stopped = stop.stop_requested();
      const bool late = Clock::now() >= deadline;
      if (stopped || late || store.add(round_key, 0) > round) {
        if (Poison(store, joined_key, joined, world)) {
          Bump(store, round);
          if (stopped) {
            attempt.gave_up = Status::Unavailable(Self() + ": joining round " +
                                                  std::to_string(round) + " was stopped");
          } else if (late) {
            attempt.gave_up = Status::DeadlineExceeded(
                Self() + ": no round formed within " +
                std::to_string(options.rendezvous_timeout.count()) + " ms at " + store_name + ": " +
                std::to_string(joined) + " of " + std::to_string(world) + " ranks joined round " +
                std::to_string(round));
          } else {
            attempt.problem = "round " + std::to_string(round) + " was left for a later one";
          }
          return attempt;
        }
        break;  // sealed meanwhile: it goes ahead with this rank in it
      }
      Pause(kPollInterval, stop, deadline);
      joined = store.add(joined_key, 0);
    }

    // Sealed: every rank registered once, and all of them form the group now.
    try {
      auto group_options = c10d::ProcessGroupGloo::Options::create(options.collective_timeout);
      group_options->devices.push_back(
          c10d::ProcessGroupGloo::createDeviceForHostname(options.bind_address));
      // Collectives are waited for one at a time: a second worker thread would only idle.
      group_options->threads = 1;
      // c10d's PrefixStore puts a "/" between prefix and key.
      auto gloo_store = c10::make_intrusive<DetachableStore>(
          c10::make_intrusive<c10d::PrefixStore>(RoundKey(round, "gloo"), store_ptr),
          options.collective_timeout);
      attempt.group = c10::make_intrusive<c10d::ProcessGroupGloo>(gloo_store, options.rank, world,
                                                                  group_options);
      gloo_store->Detach();
    } catch (const std::exception& e) {
      // A rank died after the round was sealed, or the store went away while connecting.
      attempt.problem = "round " + std::to_string(round) +
                        " could not be formed: " + internal::DescribeException(e);
      try {
        Bump(store, round);
      } catch (const std::exception&) {
        // The store is gone too: the next attempt reconnects and starts above this round.
      }
      return attempt;
    }
    return attempt;
  }
};

GroupMember::GroupMember(std::unique_ptr<State> state) : state_(std::move(state)) {}
GroupMember::~GroupMember() = default;

int GroupMember::rank() const { return state_->options.rank; }
int GroupMember::world_size() const { return state_->options.world_size; }

Result<std::unique_ptr<GroupMember>> GroupMember::Create(const GroupOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  auto state = std::make_unique<State>();
  state->options = options;
  state->store_name = options.rendezvous;
  TS_ASSIGN_OR_RETURN(state->store_address,
                      internal::ParseHostPort("rendezvous", options.rendezvous));
  try {
    // Each round makes its own device (a listening socket); this one only checks the address.
    c10d::ProcessGroupGloo::createDeviceForHostname(options.bind_address);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(
        "group options: bind_address '" + options.bind_address +
        "': Gloo cannot listen there: " + internal::DescribeException(e));
  }
  if (options.rank == 0) {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(state->store_address.port);
    store_options.isServer = true;
    store_options.waitWorkers = false;
    store_options.timeout = options.collective_timeout;
    try {
      state->hosted = c10::make_intrusive<c10d::TCPStore>(state->store_address.host, store_options);
      state->hosted->set(std::string(kHostKey), Bytes("rank 0, pid " + std::to_string(::getpid())));
    } catch (const std::exception& e) {
      return Status::Unavailable("group rank 0: cannot host the rendezvous store on port " +
                                 std::to_string(state->store_address.port) + " (rendezvous " +
                                 options.rendezvous + "): " + internal::DescribeException(e));
    }
  }
  return std::unique_ptr<GroupMember>(new GroupMember(std::move(state)));
}

Result<std::unique_ptr<GroupRound>> GroupMember::JoinRound(std::stop_token stop) {
  State& s = *state_;
  const auto deadline = Clock::now() + s.options.rendezvous_timeout;
  std::string problem = "the store did not answer yet";
  while (true) {
    if (stop.stop_requested()) {
      return Status::Unavailable(s.Self() + ": joining a round was stopped (" + problem + ")");
    }
    if (Clock::now() >= deadline) {
      return Status::DeadlineExceeded(s.Self() + ": no round formed within " +
                                      std::to_string(s.options.rendezvous_timeout.count()) +
                                      " ms at " + s.store_name + ": " + problem);
    }
    State::Attempt attempt;
    try {
      c10::intrusive_ptr<c10d::Store> store = s.Connect();
      attempt = s.TryRound(store, stop, deadline);
    } catch (const std::exception& e) {
      // Refused (rank 0 not up yet, or restarting), reset, or timed out (rank 0 hung): a fresh
      // connection, and a fresh start on whatever the store now holds.
      problem = "the store at " + s.store_name + " failed: " + internal::DescribeException(e);
      Pause(kRetryPause, stop, deadline);
      continue;
    }
    if (!attempt.gave_up.ok()) return attempt.gave_up;
    if (!attempt.group) {
      problem = attempt.problem;
      continue;
    }
    s.last_round = attempt.round;
    auto round = std::make_unique<internal::RoundState>();
    round->rank = s.options.rank;
    round->world_size = s.options.world_size;
    round->round = static_cast<int>(attempt.round);
    round->group = std::move(attempt.group);
    return std::unique_ptr<GroupRound>(new GroupRound(std::move(round)));
  }
}

}  // namespace towerstream::distributed
