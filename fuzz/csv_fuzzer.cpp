// Fuzzes the streaming CSV reader (common/csv): each input is a whole file, read through buffers
// of very different sizes, which must not change what is read.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/csv/csv_reader.h"
#include "fuzz/fuzz_support.h"

namespace towerstream::fuzz {
namespace {

struct Transcript {
  // One entry per record: its line and its fields, each prefixed by its length.
  std::vector<std::string> records;
  // Records, and for each rejected record its line, field and reason, in the order they came.
  // Not the value an error quotes: that is the start of the offending text as far as it was
  // buffered, which a smaller buffer may cut shorter.
  std::vector<std::string> all;
};

// Whether `text` is valid UTF-8 with no control characters: what Printable promises.
bool IsPrintableUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x20 || lead == 0x7f) return false;
    size_t length = lead < 0x80 ? 1 : lead < 0xc2 ? 0 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
    if (length == 0 || lead > 0xf4 || i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

Transcript Read(std::string_view data, const csv::ReaderOptions& options) {
  Result<std::unique_ptr<csv::Reader>> reader =
      csv::Reader::FromString(std::string(data), "fuzz.csv", options);
  Check(reader.ok(), "valid options rejected: " + reader.status().ToString());
  csv::Reader& csv = **reader;
  const size_t capacity_limit = std::max(options.buffer_size, options.max_record_size);
  Transcript out;
  int64_t last_line = 0;
  for (;;) {
    Result<bool> next = csv.Next();
    Check(csv.buffer_capacity() <= capacity_limit, "the buffer grew past its bound");
    if (!next.ok()) {
      // Malformed records are InvalidArgument and reading goes on; a string source cannot fail.
      Check(next.status().code() == StatusCode::kInvalidArgument,
            "unexpected error: " + next.status().ToString());
      const csv::ParseError& error = csv.last_error();
      Check(IsPrintableUtf8(error.value), "an error value is not printable");
      Check(next.status().message() == error.ToString(csv.name()),
            "the error returned is not last_error()");
      out.all.push_back("error " + std::to_string(error.line) + ":" + std::to_string(error.field) +
                        ": " + error.reason);
      continue;
    }
    if (!*next) break;
    Check(csv.line() > last_line, "record lines must increase");
    last_line = csv.line();
    std::string record = std::to_string(csv.line()) + ":";
    for (std::string_view field : csv.fields()) {
      record += std::to_string(field.size()) + "=" + std::string(field) + ";";
    }
    out.records.push_back(record);
    out.all.push_back(std::move(record));
  }
  Check(csv.bytes_read() <= data.size(), "read more bytes than the input holds");
  return out;
}

}  // namespace
}  // namespace towerstream::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace towerstream;
  using towerstream::fuzz::Check;
  const std::string_view text = fuzz::AsText(data, size);

  // Without a record size limit in reach, the buffer size must change no record and no error.
  csv::ReaderOptions whole;
  whole.buffer_size = 1 << 16;  // more than libFuzzer's inputs: one read takes all
  csv::ReaderOptions tiny;
  tiny.buffer_size = 16;  // the smallest allowed: every record crosses refills
  Check(fuzz::Read(text, tiny).all == fuzz::Read(text, whole).all,
        "a 16-byte buffer reads differently from one that holds the whole input");

  // With a limit most records exceed, where a record is cut may differ (the error says how much
  // was buffered) but the records accepted may not.
  csv::ReaderOptions limited_tiny = tiny;
  limited_tiny.max_record_size = 64;
  limited_tiny.skip_blank_lines = false;
  csv::ReaderOptions limited_whole = limited_tiny;
  limited_whole.buffer_size = whole.buffer_size;
  Check(fuzz::Read(text, limited_tiny).records == fuzz::Read(text, limited_whole).records,
        "with max_record_size 64, the buffer size changes the records accepted");

  const std::string printable = csv::Printable(text);
  Check(fuzz::IsPrintableUtf8(printable), "Printable left an unprintable byte");
  Check(printable.size() <= 4 * size, "Printable grew more than 4 bytes per byte");
  const std::string excerpt = csv::Excerpt(text, size / 2);
  Check(fuzz::IsPrintableUtf8(excerpt), "Excerpt left an unprintable byte");
  return 0;
}
