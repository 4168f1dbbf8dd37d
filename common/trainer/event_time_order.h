// Training in event-time order across the partitions of a stream.
//
// Kafka orders messages within a partition only. A trainer that trains in the order its consumer
// hands messages over trains, while catching up on a backlog, one partition weeks ahead of
// another: measured on `make demo-stream`, half of the examples were trained more than 57 days
// (of event time) after an example of a later day, and the ranker, fitted when the first
// partition reached the validation week, saw towers that had not yet trained on most customers'
// last weeks. The embedded trainer reads the file in event-time order; this restores that order
// for the streaming one.
//
// EventTimeOrder holds what the consumer delivered, one queue per partition (each already in
// event-time order, as ingest writes it), and hands out the item with the earliest event time
// over all partitions; equal times take turns across partitions. An item is handed out only
// when no partition can still deliver an earlier one: a partition with nothing buffered holds
// the others back while its last event time is earlier, unless it has delivered nothing for
// `idle_after` (caught up, or starved: its data may never come, and training must not stop).
// A partition holding `max_buffered` items is Full(): the caller pauses its fetching until it
// drains, which bounds memory when one partition is far behind.
//
// Pure and single-threaded; the clock is passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "common/base/status.h"

namespace towerstream::trainer {

struct EventTimeOrderOptions {
  // Items buffered per partition before it counts as Full().
  int64_t max_buffered = 32'768;
  // A partition that delivered nothing for this long no longer holds the others back.
  std::chrono::milliseconds idle_after{2'000};

  Status Validate() const;
};

// Event time of an item that goes first whatever the others hold (a dead letter: it only
// advances its partition's offset).
inline constexpr int64_t kAnyEventTime = std::numeric_limits<int64_t>::min();

template <typename T>
class EventTimeOrder {
 public:
  using Clock = std::chrono::steady_clock;

  EventTimeOrder(const EventTimeOrderOptions& options, int partitions, Clock::time_point now)
      : options_(options), partitions_(static_cast<size_t>(partitions)) {
    for (Partition& p : partitions_) p.last_delivery = now;
  }

  // The consumer delivered `item` of `partition` with `event_time`.
  void Add(int32_t partition, int64_t event_time, T item, Clock::time_point now) {
    Partition& p = partitions_.at(static_cast<size_t>(partition));
    p.queue.push_back({event_time, std::move(item)});
    p.last_delivery = now;
    if (event_time != kAnyEventTime) p.last_event_time = std::max(p.last_event_time, event_time);
    ++buffered_;
  }

  // The next item in event-time order and its partition; nullopt when nothing is buffered or a
  // partition behind in event time must be waited for.
  std::optional<std::pair<int32_t, T>> Next(Clock::time_point now) {
    const size_t n = partitions_.size();
    size_t best = n;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (turn_ + k) % n;
      const Partition& p = partitions_[i];
      if (p.queue.empty()) continue;
      if (best == n || p.queue.front().event_time < partitions_[best].queue.front().event_time) {
        best = i;
      }
    }
    if (best == n) return std::nullopt;
    const int64_t time = partitions_[best].queue.front().event_time;
    if (time != kAnyEventTime) {
      for (const Partition& p : partitions_) {
        if (!p.queue.empty() || p.last_event_time >= time) continue;
        if (now - p.last_delivery < options_.idle_after) return std::nullopt;
      }
    }
    Partition& p = partitions_[best];
    std::pair<int32_t, T> out{static_cast<int32_t>(best), std::move(p.queue.front().item)};
    p.queue.pop_front();
    --buffered_;
    turn_ = (best + 1) % n;
    return out;
  }

  bool Full(int32_t partition) const {
    return static_cast<int64_t>(partitions_.at(static_cast<size_t>(partition)).queue.size()) >=
           options_.max_buffered;
  }
  // Drained enough to fetch again after Full(): half the limit, so that a partition is not
  // paused and resumed for every item.
  bool Drained(int32_t partition) const {
    return static_cast<int64_t>(partitions_.at(static_cast<size_t>(partition)).queue.size()) <=
           options_.max_buffered / 2;
  }
  int64_t buffered() const { return buffered_; }

 private:
  struct Entry {
    int64_t event_time;
    T item;
  };
  struct Partition {
    std::deque<Entry> queue;
    int64_t last_event_time = std::numeric_limits<int64_t>::min();
    Clock::time_point last_delivery;
  };

  EventTimeOrderOptions options_;
  std::vector<Partition> partitions_;
  size_t turn_ = 0;  // equal event times: the first partition from here goes first
  int64_t buffered_ = 0;
};

}  // namespace towerstream::trainer
