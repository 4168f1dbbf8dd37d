// Streaming RFC 4180 reader: one record at a time through a bounded buffer, so files of any
// size load in constant memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"

namespace towerstream::csv {

struct ReaderOptions {
  // Bytes requested per read: larger blocks mean fewer system calls, at that much memory.
  size_t buffer_size = 1 << 20;
  // Longest record accepted, in bytes including quotes and line end. The buffer grows up to
  // this size for one long record; a longer record is an error and is skipped, which bounds
  // memory at about 2 * max(buffer_size, max_record_size).
  size_t max_record_size = 16 << 20;
  // Lines with no characters (or only "\r") yield no record, as pandas does; with false they
  // yield a record of one empty field.
  bool skip_blank_lines = true;

  Status Validate() const;
};

// `text` for an error message: CR, LF and tab as \r, \n and \t, other control characters
// (NUL included, which would cut a C string short) and bytes that are not valid UTF-8 as \xNN;
// valid UTF-8 is kept. Every byte shows, and none can garble a terminal.
std::string Printable(std::string_view text);

// The first `max_bytes` of `text` (cut on a UTF-8 boundary, "..." appended when cut), made
// Printable, so a value fits in a one-line error message.
std::string Excerpt(std::string_view text, size_t max_bytes = 80);

// Where and why a record was rejected.
struct ParseError {
  int64_t line = 0;    // 1-based physical line where the fault is
  int field = -1;      // 0-based field index, -1 when the record as a whole is at fault
  std::string value;   // start of the offending text, at most ~80 bytes, may be empty
  std::string reason;  // e.g. "unterminated quoted field"
  // "<name>:<line>: field <field+1>: value '<value>': <reason>" (parts omitted when unknown).
  std::string ToString(std::string_view name) const;
};

// Reads records from a file or a string. Fields are comma separated; a field may be quoted
// with '"', holding commas, CR/LF and doubled quotes (""); records end in LF or CRLF, the last
// one may lack it; a UTF-8 byte-order mark at the start is skipped. A '"' inside an unquoted
// field is kept as text. Not thread-safe; neither copyable nor movable (factories return a
// unique_ptr); owns its file descriptor.
class Reader {
 public:
  // Opens `path`; fails with NotFound/IoError naming the path, or on invalid options.
  static Result<std::unique_ptr<Reader>> Open(const std::string& path,
                                              const ReaderOptions& options = {});
  // Reads `data` as if it were a file called `name` (for tests and small inputs).
  static Result<std::unique_ptr<Reader>> FromString(std::string data, std::string name = "<string>",
                                                    const ReaderOptions& options = {});

  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Advances to the next record. true: fields() and line() describe it; false: end of input.
  // An InvalidArgument error is one malformed record ("file:line: ..."; details in
  // last_error()): the reader has skipped to the line after the one where that record
  // started, and the next call continues from there. Any other error (IoError: reading
  // failed) is final and is returned again by every later call.
  Result<bool> Next();

  // Fields of the current record; the views stay valid until the next call to Next().
  std::span<const std::string_view> fields() const { return fields_; }
  size_t size() const { return fields_.size(); }
  std::string_view operator[](size_t i) const { return fields_[i]; }
  // 1-based physical line on which the current record starts.
  int64_t line() const { return record_line_; }
  // The path (or the name given to FromString).
  const std::string& name() const { return name_; }
  // Bytes taken from the source so far (file size once at the end).
  uint64_t bytes_read() const { return bytes_read_; }
  // Bytes currently allocated for the read buffer: buffer_size, or more (up to
  // max_record_size) after a record longer than the buffer.
  size_t buffer_capacity() const { return capacity_; }
  // The last record error returned by Next().
  const ParseError& last_error() const { return last_error_; }

  class Source;  // where bytes come from: a file descriptor or a string

 private:
  enum class Outcome { kRecord, kBlank, kNeedMore, kError };
  struct Span {  // a field as offsets, so scratch_ may grow while a record is parsed
    bool in_scratch;
    size_t offset;
    size_t length;
  };

  Reader(std::unique_ptr<Source> source, std::string name, const ReaderOptions& options);

  Status Fill();  // compacts, grows when full, and reads more input
  Status SkipToNextLine(bool* done);
  Outcome ParseRecord();
  Outcome ParseQuotedRecord(const char* begin, const char* end);
  Outcome NeedMore(const char* record, const char* end, int64_t open_quote_line, int field);
  Outcome Reject(int64_t line, int field, std::string_view value, std::string reason);
  Outcome Complete(const char* record, const char* next, int64_t newlines);

  std::unique_ptr<Source> source_;
  std::string name_;
  ReaderOptions options_;

  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t begin_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // one past the last byte read
  bool eof_ = false;
  bool started_ = false;        // BOM check done
  bool skipping_line_ = false;  // resynchronising after an error in an over-long line
  int64_t next_line_ = 1;       // line number at begin_
  int64_t record_line_ = 0;
  uint64_t bytes_read_ = 0;
  Status fatal_;

  std::vector<std::string_view> fields_;
  std::vector<Span> spans_;
  std::string scratch_;  // unescaped text of fields with doubled quotes
  ParseError last_error_;
};

}  // namespace towerstream::csv
