// One background thread that runs submitted tasks in order: ingest's second core.
//
// Submit() hands a task over and returns a future that becomes ready when it has run (or
// rethrows what it threw). Submit() and the destructor are called from one owning thread; the
// destructor runs what is queued, then joins. Neither copyable nor movable.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace towerstream::ingest {

class TaskThread {
 public:
  TaskThread() : thread_([this] { Loop(); }) {}
  ~TaskThread() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    ready_.notify_one();
    thread_.join();
  }
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  std::future<void> Submit(std::function<void()> task) {
    std::packaged_task<void()> packaged(std::move(task));
    std::future<void> result = packaged.get_future();
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(packaged));
    }
    ready_.notify_one();
    return result;
  }

 private:
  void Loop() {
    while (true) {
      std::packaged_task<void()> task;
      {
        std::unique_lock lock(mu_);
        ready_.wait(lock, [this] { return done_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // done_ and drained
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<void()>> tasks_;  // guarded by mu_
  bool done_ = false;                             // guarded by mu_
  std::thread thread_;                            // last: starts once the members it uses exist
};

}  // namespace towerstream::ingest
