// The content digest of a profile store: one SHA-256 per object (header, layer attributes, layer
// datasets) in schema order, recorded as the root attribute `content_digest` (schema >= 2).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/compress/layer-profile.h"

namespace kvsvd {

struct DigestEntry {
  std::string object;  // "/" (header attributes), "/layers/<i>" (its attributes), or a dataset
  std::string sha256;  // 64 lower-case hex characters
};

// The recorded list. JSON text: {"scheme": kScheme, "entries": [[object, sha256], ...]}.
class StoreDigest {
 public:
  // Hashes: "/" covers the header (header_digest in profile-store.h), "/layers/<i>" the
  // group's layer/key_rank/value_rank/hidden attributes, a dataset path the little-endian bytes
  // of its elements in row-major order (float32 or int32), i.e. what h5py's
  // `f[path][()].tobytes()` gives, so that anyone can recompute them with hashlib.
  static constexpr const char* kScheme = "kvsvd-store-digest-v1 sha256";

  std::vector<DigestEntry> entries;

  std::string to_json() const;
  // Refuses (naming `file`) text that is not this scheme's JSON or holds malformed entries.
  static StoreDigest from_json(const std::string& text, const std::string& file);
  // The recorded SHA-256 of `object`, or "" when none is recorded.
  std::string find(const std::string& object) const;
};

// Entries of one layer, in schema order: the group's attributes, then every dataset of
// store_schema::layer_datasets() that the profile holds (optional empty arrays are skipped).
std::vector<DigestEntry> layer_digest_entries(const LayerProfile& p);

// SHA-256 hex of `n` elements' little-endian bytes.
std::string floats_digest(const float* data, size_t n);
std::string int32s_digest(const int32_t* data, size_t n);

}  // namespace kvsvd
