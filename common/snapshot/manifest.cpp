// manifest.json: its JSON form, strict decoding with errors naming the field, and verification
// of a snapshot's files against it.
#include <charconv>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "common/snapshot/file_util.h"
#include "common/snapshot/manifest_codec.h"
#include "common/snapshot/snapshot_store.h"

namespace towerstream::snapshot {
namespace {

using nlohmann::json;

// Decodes one manifest; every error starts with the file and names the field.
class ManifestDecoder {
 public:
  explicit ManifestDecoder(std::string_view source) : source_(source) {}

  Status Error(std::string_view field, std::string_view problem) const {
    return Status::Corruption(source_ + ": field '" + std::string(field) +
                              "': " + std::string(problem));
  }

  Result<const json*> Member(const json& object, std::string_view key,
                             std::string_view field) const {
    const auto it = object.find(key);
    if (it == object.end()) return Error(field, "missing");
    return &*it;
  }

  Result<int64_t> Int64(const json& value, std::string_view field) const {
    if (!value.is_number_integer()) {
      return Error(
          field, std::string("expected an integer, got ") + value.type_name() + " " + value.dump());
    }
    if (value.is_number_unsigned() &&
        value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Error(field, value.dump() + " does not fit in 64 signed bits");
    }
    return value.get<int64_t>();
  }

  Result<int64_t> NonNegative(const json& value, std::string_view field) const {
    TS_ASSIGN_OR_RETURN(const int64_t n, Int64(value, field));
    if (n < 0) return Error(field, std::to_string(n) + " is negative");
    return n;
  }

  Result<std::string> String(const json& value, std::string_view field) const {
    if (!value.is_string()) {
      return Error(field, std::string("expected a string, got ") + value.type_name());
    }
    return value.get<std::string>();
  }

  Result<json> Object(const json& value, std::string_view field) const {
    if (!value.is_object()) {
      return Error(field, std::string("expected an object, got ") + value.type_name());
    }
    return value;
  }

  Result<Manifest> Decode(std::string_view text) const;

 private:
  Status DecodeOffsets(const json& value, Manifest* manifest) const;
  Status DecodeFiles(const json& value, Manifest* manifest) const;

  std::string source_;
};

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 16) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<Manifest> ManifestDecoder::Decode(std::string_view text) const {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    return Status::Corruption(source_ + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) {
    return Status::Corruption(source_ + ": expected a JSON object, got " + root.type_name());
  }

  if (const auto checksum = root.find(std::string(kManifestChecksumField));
      checksum != root.end()) {
    // Manifests of builds before the checksum have none, and are read as they are.
    if (!checksum->is_string()) return Error(std::string(kManifestChecksumField), "not a string");
    const std::string written = checksum->get<std::string>();
    json content = root;
    content.erase(std::string(kManifestChecksumField));
    const std::string actual = internal::Xxh3Hex(content.dump());
    if (actual != written) {
      return Status::Corruption(source_ + ": its content does not match its " +
                                std::string(kManifestChecksumField) + " (" + written +
                                ", content " + actual + "): the manifest was edited or damaged");
    }
  }
  Manifest manifest;
  // The version first: a later format may have changed any other field.
  TS_ASSIGN_OR_RETURN(const json* version, Member(root, "format_version", "format_version"));
  TS_ASSIGN_OR_RETURN(const int64_t format_version, Int64(*version, "format_version"));
  if (format_version != kManifestFormatVersion) {
    return Status::FailedPrecondition(source_ + ": format_version " +
                                      std::to_string(format_version) +
                                      " is not supported (this build reads version " +
                                      std::to_string(kManifestFormatVersion) + ")");
  }
  manifest.format_version = kManifestFormatVersion;

  TS_ASSIGN_OR_RETURN(const json* id, Member(root, "id", "id"));
  TS_ASSIGN_OR_RETURN(manifest.id, String(*id, "id"));
  if (manifest.id.empty()) return Error("id", "empty");
  TS_ASSIGN_OR_RETURN(const json* created, Member(root, "created_unix_ms", "created_unix_ms"));
  TS_ASSIGN_OR_RETURN(manifest.created_unix_ms, Int64(*created, "created_unix_ms"));
  TS_ASSIGN_OR_RETURN(const json* step, Member(root, "step", "step"));
  TS_ASSIGN_OR_RETURN(manifest.step, NonNegative(*step, "step"));
  TS_ASSIGN_OR_RETURN(const json* events, Member(root, "events_trained", "events_trained"));
  TS_ASSIGN_OR_RETURN(manifest.events_trained, NonNegative(*events, "events_trained"));
  TS_ASSIGN_OR_RETURN(const json* digest, Member(root, "trained_digest", "trained_digest"));
  TS_ASSIGN_OR_RETURN(manifest.trained_digest, String(*digest, "trained_digest"));
  TS_ASSIGN_OR_RETURN(const json* offsets, Member(root, "offsets", "offsets"));
  TS_RETURN_IF_ERROR(DecodeOffsets(*offsets, &manifest));
  TS_ASSIGN_OR_RETURN(const json* config, Member(root, "model_config", "model_config"));
  TS_ASSIGN_OR_RETURN(manifest.model_config, Object(*config, "model_config"));
  TS_ASSIGN_OR_RETURN(const json* metrics, Member(root, "metrics", "metrics"));
  TS_ASSIGN_OR_RETURN(manifest.metrics, Object(*metrics, "metrics"));
  // Optional: manifests before MLflow run ids, and snapshots trained without MLflow, have none.
  if (const auto run = root.find("mlflow_run_id"); run != root.end()) {
    TS_ASSIGN_OR_RETURN(manifest.mlflow_run_id, String(*run, "mlflow_run_id"));
  }
  // Optional: only a trainer group's snapshots have one.
  if (const auto group = root.find("group"); group != root.end()) {
    TS_ASSIGN_OR_RETURN(manifest.group, Object(*group, "group"));
  }
  TS_ASSIGN_OR_RETURN(const json* files, Member(root, "files", "files"));
  TS_RETURN_IF_ERROR(DecodeFiles(*files, &manifest));
  return manifest;
}

Status ManifestDecoder::DecodeOffsets(const json& value, Manifest* manifest) const {
  if (!value.is_object()) {
    return Error("offsets", std::string("expected an object, got ") + value.type_name());
  }
  for (const auto& [topic, partitions] : value.items()) {
    const std::string field = "offsets." + topic;
    if (topic.empty()) return Error("offsets", "empty topic name");
    if (!partitions.is_object()) {
      return Error(field, std::string("expected an object, got ") + partitions.type_name());
    }
    std::map<int32_t, int64_t>& out = manifest->offsets[topic];
    for (const auto& [key, offset] : partitions.items()) {
      const std::string partition_field = field + "." + key;
      int32_t partition = -1;
      const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), partition);
      if (error != std::errc() || end != key.data() + key.size() || partition < 0) {
        return Error(partition_field, "partition '" + key + "' is not an integer >= 0");
      }
      TS_ASSIGN_OR_RETURN(out[partition], NonNegative(offset, partition_field));
    }
  }
  return Status::Ok();
}

Status ManifestDecoder::DecodeFiles(const json& value, Manifest* manifest) const {
  if (!value.is_array()) {
    return Error("files", std::string("expected an array, got ") + value.type_name());
  }
  std::set<std::string, std::less<>> names;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string field = "files[" + std::to_string(i) + "]";
    const json& entry = value[i];
    if (!entry.is_object()) {
      return Error(field, std::string("expected an object, got ") + entry.type_name());
    }
    FileEntry file;
    TS_ASSIGN_OR_RETURN(const json* name, Member(entry, "name", field + ".name"));
    TS_ASSIGN_OR_RETURN(file.name, String(*name, field + ".name"));
    if (!internal::IsValidPayloadName(file.name)) {
      return Error(field + ".name", "'" + file.name + "' is not a payload file name");
    }
    if (!names.insert(file.name).second) {
      return Error(field + ".name", "'" + file.name + "' is listed twice");
    }
    TS_ASSIGN_OR_RETURN(const json* bytes, Member(entry, "bytes", field + ".bytes"));
    TS_ASSIGN_OR_RETURN(file.bytes, NonNegative(*bytes, field + ".bytes"));
    TS_ASSIGN_OR_RETURN(const json* hash, Member(entry, "xxh3_64", field + ".xxh3_64"));
    TS_ASSIGN_OR_RETURN(file.xxh3_64, String(*hash, field + ".xxh3_64"));
    if (!IsLowerHex64(file.xxh3_64)) {
      return Error(field + ".xxh3_64",
                   "'" + file.xxh3_64 + "' is not 16 lowercase hexadecimal digits");
    }
    manifest->files.push_back(std::move(file));
  }
  return Status::Ok();
}

}  // namespace

namespace internal {

Status CheckManifestForWrite(const Manifest& manifest) {
  auto invalid = [](std::string_view field, const std::string& problem) {
    return Status::InvalidArgument("manifest field '" + std::string(field) + "': " + problem);
  };
  if (manifest.step < 0) return invalid("step", std::to_string(manifest.step) + " is negative");
  if (manifest.events_trained < 0) {
    return invalid("events_trained", std::to_string(manifest.events_trained) + " is negative");
  }
  for (const auto& [topic, partitions] : manifest.offsets) {
    if (topic.empty()) return invalid("offsets", "empty topic name");
    for (const auto& [partition, offset] : partitions) {
      const std::string field = "offsets." + topic + "." + std::to_string(partition);
      if (partition < 0) return invalid(field, "negative partition");
      if (offset < 0) return invalid(field, "offset " + std::to_string(offset) + " is negative");
    }
  }
  if (!manifest.model_config.is_object()) {
    return invalid("model_config",
                   std::string("expected an object, got ") + manifest.model_config.type_name());
  }
  if (!manifest.metrics.is_object()) {
    return invalid("metrics",
                   std::string("expected an object, got ") + manifest.metrics.type_name());
  }
  if (!manifest.group.is_null() && !manifest.group.is_object()) {
    return invalid("group", std::string("expected an object, got ") + manifest.group.type_name());
  }
  return Status::Ok();
}

bool IsValidPayloadName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name != kManifestFileName &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::string EncodeManifest(const Manifest& manifest) {
  // ordered_json keeps this field order (and partitions in numeric order) for human readers.
  nlohmann::ordered_json out;
  out["format_version"] = manifest.format_version;
  out["id"] = manifest.id;
  out["created_unix_ms"] = manifest.created_unix_ms;
  out["step"] = manifest.step;
  out["events_trained"] = manifest.events_trained;
  out["trained_digest"] = manifest.trained_digest;
  nlohmann::ordered_json offsets = nlohmann::ordered_json::object();
  for (const auto& [topic, partitions] : manifest.offsets) {
    nlohmann::ordered_json by_partition = nlohmann::ordered_json::object();
    for (const auto& [partition, offset] : partitions) {
      by_partition[std::to_string(partition)] = offset;
    }
    offsets[topic] = std::move(by_partition);
  }
  out["offsets"] = std::move(offsets);
  out["model_config"] = nlohmann::ordered_json(manifest.model_config);
  out["metrics"] = nlohmann::ordered_json(manifest.metrics);
  if (!manifest.mlflow_run_id.empty()) out["mlflow_run_id"] = manifest.mlflow_run_id;
  if (!manifest.group.is_null()) out["group"] = nlohmann::ordered_json(manifest.group);
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const FileEntry& file : manifest.files) {
    nlohmann::ordered_json entry;
    entry["name"] = file.name;
    entry["bytes"] = file.bytes;
    entry["xxh3_64"] = file.xxh3_64;
    files.push_back(std::move(entry));
  }
  out["files"] = std::move(files);
  // Guards against hand edits and damage the payload checksums cannot see (events_trained,
  // offsets): the checksum of everything else, in a form decoding can rebuild (sorted keys).
  out[std::string(kManifestChecksumField)] = Xxh3Hex(nlohmann::json(out).dump());
  return out.dump(2) + "\n";
}

Result<Manifest> DecodeManifest(std::string_view text, std::string_view source) {
  return ManifestDecoder(source).Decode(text);
}

}  // namespace internal

Result<Manifest> ReadManifest(const std::filesystem::path& snapshot_dir) {
  const std::filesystem::path path = snapshot_dir / kManifestFileName;
  Result<std::string> text = internal::ReadFile(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound(path.string() + ": no manifest (is " + snapshot_dir.string() +
                              " a snapshot directory?)");
    }
    return text.status();
  }
  return internal::DecodeManifest(*text, path.string());
}

Status VerifySnapshot(const std::filesystem::path& snapshot_dir) {
  TS_ASSIGN_OR_RETURN(const Manifest manifest, ReadManifest(snapshot_dir));
  for (const FileEntry& file : manifest.files) {
    const std::filesystem::path path = snapshot_dir / file.name;
    std::error_code error;
    const std::filesystem::file_status status = std::filesystem::symlink_status(path, error);
    if (status.type() == std::filesystem::file_type::not_found) {
      return Status::Corruption(path.string() + ": listed in manifest.json but missing");
    }
    if (error) return Status::IoError("stat " + path.string() + ": " + error.message());
    if (status.type() != std::filesystem::file_type::regular) {
      return Status::Corruption(path.string() + ": listed in manifest.json but not a file");
    }
    // The size first: it catches truncation without reading a possibly huge file.
    const auto size = static_cast<int64_t>(std::filesystem::file_size(path, error));
    if (error) return Status::IoError("stat " + path.string() + ": " + error.message());
    if (size != file.bytes) {
      return Status::Corruption(path.string() + ": " + std::to_string(size) +
                                " bytes, manifest.json says " + std::to_string(file.bytes));
    }
    TS_ASSIGN_OR_RETURN(const internal::FileDigest digest,
                        internal::DigestFile(path, /*sync=*/false));
    if (digest.bytes != file.bytes) {
      return Status::Corruption(path.string() + ": changed while being verified");
    }
    if (digest.xxh3_64 != file.xxh3_64) {
      return Status::Corruption(path.string() + ": XXH3-64 " + digest.xxh3_64 +
                                ", manifest.json says " + file.xxh3_64);
    }
  }
  return Status::Ok();
}

}  // namespace towerstream::snapshot
