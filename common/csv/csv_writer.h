// Appending RFC 4180 fields to an output buffer: the writers (generator, reports) format rows
// into a std::string and flush it in large blocks.
#pragma once

#include <string>
#include <string_view>

namespace towerstream::csv {

// True when a field must be quoted: it holds a comma, a quote, CR or LF, or starts/ends
// with a space (which some readers would trim).
bool NeedsQuoting(std::string_view field);

// Appends `field`, quoted (with inner quotes doubled) only when NeedsQuoting says so.
void AppendField(std::string* out, std::string_view field);

}  // namespace towerstream::csv
