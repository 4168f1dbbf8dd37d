// Streaming RFC 4180 record parsing over a bounded, growable buffer.
#include "common/csv/csv_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace towerstream::csv {

class Reader::Source {
 public:
  virtual ~Source() = default;
  // Reads up to `n` bytes into `out`; 0 means end of input.
  virtual Result<size_t> Read(char* out, size_t n) = 0;
};

namespace {

constexpr char kBom[] = "\xEF\xBB\xBF";
constexpr size_t kBomSize = 3;
constexpr size_t kMinBufferSize = 16;

std::string ErrnoText() { return std::generic_category().message(errno); }

class FileSource final : public Reader::Source {
 public:
  FileSource(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  Result<size_t> Read(char* out, size_t n) override {
    for (;;) {
      const ssize_t got = ::read(fd_, out, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return Status::IoError("read " + path_ + ": " + ErrnoText());
    }
  }

 private:
  const int fd_;
  const std::string path_;
};

class StringSource final : public Reader::Source {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}

  Result<size_t> Read(char* out, size_t n) override {
    const size_t count = std::min(n, data_.size() - offset_);
    std::memcpy(out, data_.data() + offset_, count);
    offset_ += count;
    return count;
  }

 private:
  const std::string data_;
  size_t offset_ = 0;
};

const char* Find(const char* begin, const char* end, char c) {
  return static_cast<const char*>(std::memchr(begin, c, static_cast<size_t>(end - begin)));
}

}  // namespace

namespace {

// Length of the valid UTF-8 sequence at the start of `text` (1 to 4), or 0 when it is not one:
// a stray continuation byte, a truncated or overlong sequence, a surrogate, or beyond U+10FFFF.
size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  uint32_t code = 0;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
  const bool surrogate = code >= 0xD800 && code <= 0xDFFF;
  if (overlong || surrogate || code > 0x10FFFF) return 0;
  return length;
}

}  // namespace

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const auto c = static_cast<unsigned char>(text.front());
    const size_t length = Utf8SequenceLength(text);
    if (length > 1) {
      out.append(text.substr(0, length));
      text.remove_prefix(length);
      continue;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F || length == 0) {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02X", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
    text.remove_prefix(1);
  }
  return out;
}

std::string Excerpt(std::string_view text, size_t max_bytes) {
  const bool cut = text.size() > max_bytes;
  if (cut) {
    size_t n = max_bytes;
    // Never end inside a multi-byte character: back up over continuation bytes.
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    text = text.substr(0, n);
  }
  std::string out = Printable(text);
  if (cut) out += "...";
  return out;
}

std::string ParseError::ToString(std::string_view name) const {
  std::string out(name);
  out += ':';
  out += std::to_string(line);
  out += ": ";
  if (field >= 0) {
    out += "field ";
    out += std::to_string(field + 1);
    out += ": ";
  }
  if (!value.empty()) {
    out += "value '";
    out += value;
    out += "': ";
  }
  out += reason;
  return out;
}

Status ReaderOptions::Validate() const {
  if (buffer_size < kMinBufferSize) {
    return Status::InvalidArgument("csv buffer_size must be at least " +
                                   std::to_string(kMinBufferSize) + " bytes, got " +
                                   std::to_string(buffer_size));
  }
  if (max_record_size == 0) return Status::InvalidArgument("csv max_record_size must be > 0");
  return Status::Ok();
}

Result<std::unique_ptr<Reader>> Reader::Open(const std::string& path,
                                             const ReaderOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::string message = "open " + path + ": " + ErrnoText();
    return errno == ENOENT ? Status::NotFound(std::move(message))
                           : Status::IoError(std::move(message));
  }
  auto source = std::make_unique<FileSource>(fd, path);
  // Only a hint for read-ahead; a failure changes nothing but speed.
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<Reader>(new Reader(std::move(source), path, options));
}

Result<std::unique_ptr<Reader>> Reader::FromString(std::string data, std::string name,
                                                   const ReaderOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<Reader>(
      new Reader(std::make_unique<StringSource>(std::move(data)), std::move(name), options));
}

Reader::Reader(std::unique_ptr<Source> source, std::string name, const ReaderOptions& options)
    : source_(std::move(source)),
      name_(std::move(name)),
      options_(options),
      buffer_(new char[options.buffer_size]),
      capacity_(options.buffer_size) {}

Reader::~Reader() = default;

Status Reader::Fill() {
  char* const buffer = buffer_.get();
  if (begin_ > 0) {
    std::memmove(buffer, buffer + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == capacity_) {
    // Only a record that is still within max_record_size gets here (NeedMore rejects longer
    // ones), so the buffer never grows past max(buffer_size, max_record_size).
    const size_t limit = std::max(options_.buffer_size, options_.max_record_size);
    const size_t grown = std::min(capacity_ * 2, limit);
    if (grown <= capacity_) return Status::Internal(name_ + ": csv buffer cannot grow");
    std::unique_ptr<char[]> bigger(new char[grown]);
    std::memcpy(bigger.get(), buffer, end_);
    buffer_ = std::move(bigger);
    capacity_ = grown;
  }
  TS_ASSIGN_OR_RETURN(const size_t got, source_->Read(buffer_.get() + end_, capacity_ - end_));
  if (got == 0) eof_ = true;
  end_ += got;
  bytes_read_ += got;
  return Status::Ok();
}

Result<bool> Reader::Next() {
  if (!fatal_.ok()) return fatal_;
  auto fail = [this](Status status) {
    fatal_ = std::move(status);
    return fatal_;
  };
  if (!started_) {
    started_ = true;
    while (!eof_ && end_ - begin_ < kBomSize) {
      if (Status s = Fill(); !s.ok()) return fail(std::move(s));
    }
    if (end_ - begin_ >= kBomSize && std::memcmp(buffer_.get() + begin_, kBom, kBomSize) == 0) {
      begin_ += kBomSize;
    }
  }
  for (;;) {
    if (skipping_line_) {
      const char* base = buffer_.get();
      if (const char* nl = Find(base + begin_, base + end_, '\n')) {
        begin_ = static_cast<size_t>(nl + 1 - base);
        skipping_line_ = false;
      } else {
        begin_ = end_;
        skipping_line_ = !eof_;
      }
    }
    if (begin_ == end_) {
      if (eof_) return false;
      if (Status s = Fill(); !s.ok()) return fail(std::move(s));
      continue;
    }
    switch (ParseRecord()) {
      case Outcome::kRecord:
        return true;
      case Outcome::kBlank:
        break;
      case Outcome::kError:
        return Status::InvalidArgument(last_error_.ToString(name_));
      case Outcome::kNeedMore:
        if (Status s = Fill(); !s.ok()) return fail(std::move(s));
        break;
    }
  }
}

Reader::Outcome Reader::ParseRecord() {
  const char* const p = buffer_.get() + begin_;
  const char* const e = buffer_.get() + end_;
  record_line_ = next_line_;
  const char* const nl = Find(p, e, '\n');
  const char* const line_end = nl != nullptr ? nl : e;
  // A line without quotes is exactly one record: split it on commas with memchr.
  if (Find(p, line_end, '"') != nullptr) return ParseQuotedRecord(p, e);
  if (nl == nullptr && !eof_) return NeedMore(p, e, /*open_quote_line=*/0, /*field=*/-1);

  const char* content_end = line_end;
  if (content_end > p && content_end[-1] == '\r') --content_end;
  const char* const next = nl != nullptr ? nl + 1 : e;
  if (content_end == p && options_.skip_blank_lines) {
    begin_ = static_cast<size_t>(next - buffer_.get());
    next_line_ += nl != nullptr ? 1 : 0;
    return Outcome::kBlank;
  }
  spans_.clear();
  fields_.clear();
  for (const char* s = p;;) {
    const char* comma = Find(s, content_end, ',');
    if (comma == nullptr) {
      fields_.emplace_back(s, static_cast<size_t>(content_end - s));
      break;
    }
    fields_.emplace_back(s, static_cast<size_t>(comma - s));
    s = comma + 1;
  }
  return Complete(p, next, nl != nullptr ? 1 : 0);
}

Reader::Outcome Reader::ParseQuotedRecord(const char* const p, const char* const e) {
  const char* const base = buffer_.get();
  spans_.clear();
  scratch_.clear();
  int64_t newlines = 0;
  const char* s = p;
  for (int field = 0;; ++field) {
    if (s < e && *s == '"') {
      const int64_t open_line = record_line_ + newlines;
      const char* segment = s + 1;  // text not yet copied to scratch_
      const size_t scratch_begin = scratch_.size();
      bool escaped = false;
      for (const char* q = segment;;) {
        const char* quote = Find(q, e, '"');
        if (quote == nullptr) {
          if (!eof_) return NeedMore(p, e, open_line, field);
          return Reject(open_line, field, {s, static_cast<size_t>(e - s)},
                        "unterminated quoted field");
        }
        newlines += std::count(q, quote, '\n');
        // Whether this quote is doubled depends on the next byte, which may not be read yet.
        if (quote + 1 == e && !eof_) return NeedMore(p, e, open_line, field);
        if (quote + 1 < e && quote[1] == '"') {
          scratch_.append(segment, static_cast<size_t>(quote + 1 - segment));
          escaped = true;
          q = segment = quote + 2;
          continue;
        }
        if (escaped) {
          scratch_.append(segment, static_cast<size_t>(quote - segment));
          spans_.push_back({true, scratch_begin, scratch_.size() - scratch_begin});
        } else {
          spans_.push_back(
              {false, static_cast<size_t>(s + 1 - base), static_cast<size_t>(quote - s - 1)});
        }
        s = quote + 1;
        break;
      }
      if (s == e) {
        if (!eof_) return NeedMore(p, e, 0, field);
        return Complete(p, s, newlines);
      }
      if (*s == ',') {
        ++s;
        continue;
      }
      if (*s == '\n') return Complete(p, s + 1, newlines + 1);
      if (*s == '\r') {
        if (s + 1 == e) {
          if (!eof_) return NeedMore(p, e, 0, field);
          return Complete(p, s + 1, newlines);
        }
        if (s[1] == '\n') return Complete(p, s + 2, newlines + 1);
      }
      const char* rest_end = Find(s, e, '\n');
      if (rest_end == nullptr) rest_end = e;
      return Reject(record_line_ + newlines, field, {s, static_cast<size_t>(rest_end - s)},
                    "characters after the closing quote");
    }
    const char* t = s;
    while (t < e && *t != ',' && *t != '\n') ++t;
    if (t == e && !eof_) return NeedMore(p, e, 0, field);
    const char* field_end = t;
    if (t > s && t[-1] == '\r' && (t == e || *t == '\n')) --field_end;
    spans_.push_back({false, static_cast<size_t>(s - base), static_cast<size_t>(field_end - s)});
    if (t == e) return Complete(p, t, newlines);
    if (*t == '\n') return Complete(p, t + 1, newlines + 1);
    s = t + 1;
  }
}

Reader::Outcome Reader::NeedMore(const char* record, const char* end, int64_t open_quote_line,
                                 int field) {
  if (static_cast<size_t>(end - record) < options_.max_record_size) return Outcome::kNeedMore;
  const std::string limit =
      " (max_record_size " + std::to_string(options_.max_record_size) + " bytes)";
  if (open_quote_line > 0) {
    return Reject(open_quote_line, field, {},
                  "unterminated quoted field: not closed within the record size limit" + limit);
  }
  return Reject(record_line_, -1, {record, static_cast<size_t>(end - record)},
                "record longer than the limit" + limit);
}

Reader::Outcome Reader::Reject(int64_t line, int field, std::string_view value,
                               std::string reason) {
  last_error_.line = line;
  last_error_.field = field;
  last_error_.value = Excerpt(value);
  last_error_.reason = std::move(reason);
  // Resynchronise on the line after the one where the bad record started.
  const char* const base = buffer_.get();
  next_line_ = record_line_ + 1;
  if (const char* nl = Find(base + begin_, base + end_, '\n')) {
    begin_ = static_cast<size_t>(nl + 1 - base);
  } else {
    begin_ = end_;
    skipping_line_ = !eof_;
  }
  return Outcome::kError;
}

Reader::Outcome Reader::Complete(const char* record, const char* next, int64_t newlines) {
  // NeedMore rejects a record of at least max_record_size + 1 bytes.
  if (static_cast<size_t>(next - record) > options_.max_record_size) {
    return NeedMore(record, next, /*open_quote_line=*/0, /*field=*/-1);
  }
  if (!spans_.empty()) {
    fields_.clear();
    const char* const base = buffer_.get();
    for (const Span& span : spans_) {
      fields_.emplace_back((span.in_scratch ? scratch_.data() : base) + span.offset, span.length);
    }
  }
  begin_ = static_cast<size_t>(next - buffer_.get());
  next_line_ += newlines;
  return Outcome::kRecord;
}

}  // namespace towerstream::csv
