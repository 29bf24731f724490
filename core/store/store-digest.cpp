#include "core/store/store-digest.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "core/store/store-schema.h"
#include "core/util/error.h"
#include "core/util/sha256.h"

namespace kvsvd {

namespace {

// Stores are written and read on little-endian hosts only (x86-64, aarch64); the digest is
// defined over little-endian bytes so that it does not depend on that.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the store digest assumes a little-endian host");

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string floats_digest(const float* data, size_t n) { return sha256_hex(data, n * sizeof(float)); }

std::string int32s_digest(const int32_t* data, size_t n) {
  return sha256_hex(data, n * sizeof(int32_t));
}

std::string StoreDigest::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const DigestEntry& e : entries) list.push_back({e.object, e.sha256});
  // Objects are our own ASCII paths; replace keeps a damaged one from throwing here.
  return nlohmann::json{{"scheme", kScheme}, {"entries", list}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

StoreDigest StoreDigest::from_json(const std::string& text, const std::string& file) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  const std::string bad = cat("the content digest recorded in ", file, " (root attribute '",
                              store_schema::root_attr::content_digest, "') ");
  KVSVD_CHECK(!j.is_discarded() && j.is_object(), bad, "is not a JSON object: damaged store");
  KVSVD_CHECK(j.contains("scheme") && j["scheme"].is_string() &&
                  j["scheme"].get<std::string>() == kScheme,
              bad, "is not of the scheme '", kScheme, "': damaged store");
  KVSVD_CHECK(j.contains("entries") && j["entries"].is_array(), bad,
              "has no 'entries' array: damaged store");
  StoreDigest d;
  for (const nlohmann::json& e : j["entries"]) {
    KVSVD_CHECK(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string() &&
                    is_hex64(e[1].get<std::string>()),
                bad, "holds an entry that is not [object, 64 hex digits]: ", e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).substr(0, 120));
    d.entries.push_back({e[0].get<std::string>(), e[1].get<std::string>()});
  }
  return d;
}

std::string StoreDigest::find(const std::string& object) const {
  for (const DigestEntry& e : entries) {
    if (e.object == object) return e.sha256;
  }
  return "";
}

std::vector<DigestEntry> layer_digest_entries(const LayerProfile& p) {
  std::vector<DigestEntry> out;
  const std::string group = store_schema::layer_group_path(p.layer);
  // The group's attributes as read (fixed-width little-endian), whether or not a reader uses
  // them: `hidden` is 0 in a layer without fused outputs, and a 4 there is damage too.
  const int64_t attrs[4] = {p.layer, p.key_rank, p.value_rank, p.hidden};
  out.push_back({group, sha256_hex(attrs, sizeof attrs)});
  for (const store_schema::LayerDatasetSpec& spec : store_schema::layer_datasets()) {
    std::string sha;
    if (spec.type == store_schema::ElementType::float32) {
      const std::vector<float>& v = p.*(spec.f32);
      if (spec.optional && v.empty()) continue;
      sha = floats_digest(v.data(), v.size());
    } else {
      const std::vector<int32_t>& v = p.*(spec.i32);
      if (spec.optional && v.empty()) continue;
      sha = int32s_digest(v.data(), v.size());
    }
    out.push_back({group + "/" + spec.name, sha});
  }
  return out;
}

}  // namespace kvsvd
