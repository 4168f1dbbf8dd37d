// manifest.json encoding and decoding (internal to ts_snapshot).
#pragma once

#include <string>
#include <string_view>

#include "common/base/status.h"
#include "common/snapshot/snapshot_store.h"

namespace towerstream::snapshot::internal {

// InvalidArgument naming the field when the trainer's part of `manifest` cannot be written:
// negative step, events or offsets, an empty topic, model_config or metrics not objects.
Status CheckManifestForWrite(const Manifest& manifest);

// Whether `name` can be a payload file name: not empty, no '/', not "." or "..", not
// manifest.json.
bool IsValidPayloadName(std::string_view name);

// Pretty-printed JSON (indent 2) with the fields in a fixed, readable order.
std::string EncodeManifest(const Manifest& manifest);

// Parses and validates manifest JSON; `source` (the file) starts every error message.
Result<Manifest> DecodeManifest(std::string_view text, std::string_view source);

}  // namespace towerstream::snapshot::internal
