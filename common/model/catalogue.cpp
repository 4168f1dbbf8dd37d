// Catalogue: insertion-ordered articles with their item codes, and their saved state.
#include "common/model/catalogue.h"

#include <algorithm>
#include <string>

#include "common/model/binary_io.h"

namespace towerstream::model {
namespace {

constexpr char kMagic[8] = {'T', 'S', 'C', 'A', 'T', 'A', 'L', 'G'};
constexpr uint32_t kFormatVersion = 1;

}  // namespace

int64_t Catalogue::Upsert(hm::ArticleId id, const ArticleCodes& codes) {
  const auto [it, added] = index_.try_emplace(id, size());
  if (added) {
    ids_.push_back(id);
    codes_.push_back(codes);
    ++version_;
  } else if (codes.known && codes_[it->second] != codes) {
    codes_[it->second] = codes;
    ++version_;
  }
  return it->second;
}

std::optional<int64_t> Catalogue::IndexOf(hm::ArticleId id) const {
  const auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

Status Catalogue::Save(std::ostream& out) const {
  binary_io::WriteHeader(out, kMagic, kFormatVersion);
  binary_io::WritePod(out, static_cast<int64_t>(ids_.size()));
  binary_io::WritePod(out, static_cast<int64_t>(kItemCodeCount));
  binary_io::WritePod(out, version_);
  for (size_t i = 0; i < ids_.size(); ++i) {
    binary_io::WritePod(out, ids_[i]);
    binary_io::WritePod(out, static_cast<uint8_t>(codes_[i].known));
    binary_io::WriteRaw(out, codes_[i].codes.data(), sizeof(codes_[i].codes));
  }
  if (!out) return Status::IoError("catalogue state: write failed");
  return Status::Ok();
}

Status Catalogue::Load(std::istream& in) {
  TS_RETURN_IF_ERROR(binary_io::ReadHeader(in, kMagic, kFormatVersion, "catalogue state"));
  int64_t n = 0, fields = 0, version = 0;
  if (!binary_io::ReadPod(in, &n) || !binary_io::ReadPod(in, &fields) ||
      !binary_io::ReadPod(in, &version) || n < 0) {
    return Status::Corruption("catalogue state: truncated header");
  }
  if (fields != kItemCodeCount) {
    return Status::FailedPrecondition("catalogue state: " + std::to_string(fields) +
                                      " item codes per article, this build has " +
                                      std::to_string(kItemCodeCount));
  }
  Catalogue loaded;
  // Reserved up to a bound only: a damaged count must not allocate what the file cannot hold.
  const auto reserve = static_cast<size_t>(std::min<int64_t>(n, int64_t{1} << 20));
  loaded.ids_.reserve(reserve);
  loaded.codes_.reserve(reserve);
  for (int64_t i = 0; i < n; ++i) {
    hm::ArticleId id = 0;
    uint8_t known = 0;
    ArticleCodes codes;
    if (!binary_io::ReadPod(in, &id) || !binary_io::ReadPod(in, &known) ||
        !binary_io::ReadRaw(in, codes.codes.data(), sizeof(codes.codes))) {
      return Status::Corruption("catalogue state: truncated at article " + std::to_string(i) +
                                " of " + std::to_string(n));
    }
    codes.known = known != 0;
    if (!loaded.index_.emplace(id, i).second) {
      return Status::Corruption("catalogue state: article " + hm::FormatArticleId(id) + " twice");
    }
    loaded.ids_.push_back(id);
    loaded.codes_.push_back(codes);
  }
  loaded.version_ = version;
  *this = std::move(loaded);
  return Status::Ok();
}

}  // namespace towerstream::model
