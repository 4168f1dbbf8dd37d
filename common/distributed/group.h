// Data-parallel training groups over c10d's Gloo process group: membership that survives dead
// ranks, and the collectives a training step needs (model::StepExchange).
//
// Every trainer process owns one GroupMember for its lifetime. Rank 0's member hosts the
// rendezvous store (c10d's TCPStore); the others reach it over TCP. JoinRound() waits until all
// world_size ranks have joined and returns a GroupRound: one Gloo process group of them all.
// When a collective of a round fails (a rank died or hung past collective_timeout), the round is
// broken for good; every surviving rank drops it and calls JoinRound() again, while whoever
// supervises the dead rank restarts it, and the restarted process joins as a new member. Round
// numbers only grow, also across a restart of rank 0 (whose store then starts empty), so a
// later round never meets the keys or the members of an earlier one.
//
// Neither class is copyable or movable. A GroupMember is used by one thread at a time; so are
// the collectives of a GroupRound (every rank must call them in the same order anyway), whose
// stats(), round() and error() may be read from any thread. A round needs nothing from its
// member once formed, and may outlive it.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"
#include "common/model/step_exchange.h"

namespace towerstream::distributed {
namespace internal {
struct RoundState;  // the round's c10d process group: c10d's headers need USE_C10D_GLOO
}  // namespace internal

struct GroupOptions {
  // Ranks in the group, and this process's place in it (0 <= rank < world_size). A group of one
  // forms at once and its collectives copy locally, but trainers usually pass no exchange then.
  int world_size = 1;
  int rank = 0;
  // HOST:PORT of the rendezvous store (IPv6 as [::1]:PORT). Rank 0 hosts it there and every rank
  // connects to it. c10d 1.13 listens on every interface on PORT whatever HOST says: firewall the
  // port on hosts with untrusted networks.
  std::string rendezvous = "127.0.0.1:29400";
  // The address this rank's Gloo transport listens on, which the others connect to: loopback by
  // default, like the admin API. Several machines need an address the others can reach.
  std::string bind_address = "127.0.0.1";
  // A collective (or the forming of a round) not done by then fails and breaks the round, so a
  // dead or hung rank makes the others leave within it; a killed process is noticed at once
  // (its sockets close). Also bounds each call to the store, so a hung rank 0 is noticed too.
  // Long enough for the slowest rank's step between two collectives.
  std::chrono::milliseconds collective_timeout{std::chrono::seconds(120)};
  // How long JoinRound() waits for the others to join (and for rank 0's store to answer) before
  // giving up. A supervisor restarting a dead rank must fit in it.
  std::chrono::milliseconds rendezvous_timeout{std::chrono::seconds(600)};

  Status Validate() const;
};

class GroupRound;

// One process's membership of the group. Creating rank 0's member binds the store's port.
class GroupMember {
 public:
  // Fails (InvalidArgument) on bad options or a bind_address Gloo cannot listen on, and on rank 0
  // (Unavailable) when the store's port cannot be bound.
  static Result<std::unique_ptr<GroupMember>> Create(const GroupOptions& options);
  ~GroupMember();
  GroupMember(const GroupMember&) = delete;
  GroupMember& operator=(const GroupMember&) = delete;

  int rank() const;
  int world_size() const;

  // Waits until every rank has joined a new round and its process group is connected; drop the
  // previous round first (its peers are waiting on it otherwise). Returns DeadlineExceeded after
  // rendezvous_timeout (naming what it waited for last) and Unavailable when `stop` is requested,
  // both checked every few milliseconds while waiting for the others; a call to the store or the
  // forming of the process group already under way cannot be cut short and finishes within
  // collective_timeout. A rank that dies after every rank registered makes forming fail after
  // collective_timeout; the others then go on to the next round by themselves. While rank 0 is
  // down, the others keep reconnecting, and join the store of its next process.
  Result<std::unique_ptr<GroupRound>> JoinRound(std::stop_token stop = {});

 private:
  struct State;
  explicit GroupMember(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// One Gloo process group of all the ranks. Any failure of a collective is Unavailable, naming the
// round, the operation, this rank and the cause, and breaks the round: every later collective
// fails at once with that same error, and the round's connections are closed at once so that
// ranks blocked on this one fail too. Misuse that all ranks see alike (different dtypes in
// AllGather) is InvalidArgument and leaves the round working.
class GroupRound final : public model::StepExchange {
 public:
  ~GroupRound() override;
  GroupRound(const GroupRound&) = delete;
  GroupRound& operator=(const GroupRound&) = delete;

  int rank() const override;
  int world_size() const override;
  // The round's number: larger than that of every round this member joined before.
  int round() const;
  // OK while the round works; the error that broke it after.
  Status error() const;

  // Any dtype, first dimension free (0 included): sizes go first (one int64 header per rank),
  // then every part padded to the largest in a single all-gather, sliced back on arrival.
  Result<std::vector<torch::Tensor>> AllGather(const torch::Tensor& local) override;
  // Gloo's ring all-reduce: each sum is computed on one rank and then passed round, so all
  // ranks hold the same bits (tests check it for 2 and 3 ranks). On an error `values` holds
  // partial sums.
  Status AllReduceSum(torch::Tensor& values) override;
  // Every rank's bytes, in rank order (an AllGather of bytes).
  Result<std::vector<std::string>> AllGatherBytes(std::string_view local);
  // Returns once every rank has called it (snapshot coordination).
  Status Barrier();
  // bytes_sent counts this rank's part of each collective (padding and headers included),
  // bytes_received the others' parts (for AllReduceSum: the sums, as many bytes as were sent).
  model::ExchangeStats stats() const override;

 private:
  friend class GroupMember;
  explicit GroupRound(std::unique_ptr<internal::RoundState> state);
  std::unique_ptr<internal::RoundState> state_;
};

}  // namespace towerstream::distributed
