// The articles a model scores against: ids and item codes, in the order they became known.
//
// A value type (copyable, not thread-safe to mutate concurrently). Index i is stable: articles
// are only added, never removed, so cached item embeddings stay aligned with it.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <unordered_map>
#include <vector>

#include "common/base/status.h"
#include "common/hm/records.h"
#include "common/model/example.h"

namespace towerstream::model {

class Catalogue {
 public:
  // Adds `id`, or updates its codes when `codes` is known (a known record replaces an unknown
  // or older one; an unknown one never replaces a known one). Returns its index.
  int64_t Upsert(hm::ArticleId id, const ArticleCodes& codes);

  std::optional<int64_t> IndexOf(hm::ArticleId id) const;
  int64_t size() const { return static_cast<int64_t>(ids_.size()); }
  const std::vector<hm::ArticleId>& ids() const { return ids_; }
  const std::vector<ArticleCodes>& codes() const { return codes_; }
  // Bumped by every change (addition or code update): item embeddings computed at another
  // version may be stale.
  int64_t version() const { return version_; }

  Status Save(std::ostream& out) const;
  Status Load(std::istream& in);

 private:
  std::vector<hm::ArticleId> ids_;
  std::vector<ArticleCodes> codes_;
  std::unordered_map<hm::ArticleId, int64_t> index_;
  int64_t version_ = 0;
};

}  // namespace towerstream::model
