// Status and Result<T>: errors as values across module boundaries.
//
// A Status is either OK or a code plus a message that names the thing and the place
// ("articles.csv:17: column 'price': 'abc' is not a number"). Result<T> holds a value or a
// non-OK Status. Both are cheap to move, must be used ([[nodiscard]]) and are not thread-safe
// to mutate concurrently (like any value type).
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace towerstream {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // caller passed something malformed (bad option, bad row, bad event)
  kNotFound,         // a file, key or id that should exist does not
  kAlreadyExists,
  kFailedPrecondition,  // the system is not in a state where the call makes sense
  kIoError,             // the operating system refused a read/write/open
  kCorruption,          // stored data does not match its checksum or format
  kUnavailable,         // a remote service (Kafka, Prometheus, MLflow) did not answer
  kDeadlineExceeded,
  kInternal,  // a bug or an exception from a third-party library
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) {
    return {StatusCode::kDeadlineExceeded, std::move(m)};
  }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "InvalidArgument: <message>", or "OK".
  std::string ToString() const;

  // Same code, message prefixed with "<context>: ", so callers can add the file or topic
  // they were working on without losing the inner detail.
  Status WithContext(std::string_view context) const;

  // Explicitly discards a Status where ignoring it is the intended behaviour.
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Holds either a T or a non-OK Status. Accessing the value of an error Result is a bug
// (asserted in debug builds).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : storage_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(storage_).ok() && "Result built from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(storage_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(storage_); }

  T& value() & {
    assert(ok());
    return std::get<T>(storage_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(storage_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(storage_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> storage_;
};

}  // namespace towerstream

#define TS_CONCAT_INNER_(a, b) a##b
#define TS_CONCAT_(a, b) TS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define TS_RETURN_IF_ERROR(expr)               \
  do {                                         \
    ::towerstream::Status ts_status_ = (expr); \
    if (!ts_status_.ok()) return ts_status_;   \
  } while (false)

// `TS_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result or returns its Status.
#define TS_ASSIGN_OR_RETURN(lhs, expr) \
  TS_ASSIGN_OR_RETURN_IMPL_(TS_CONCAT_(ts_result_, __LINE__), lhs, expr)
#define TS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
