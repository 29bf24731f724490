#include "core/compress/profile-method.h"

#include "core/util/error.h"

namespace kvsvd {
namespace {

std::string choices(const std::vector<NamedChoice>& table) {
  std::string out;
  for (const auto& c : table) {
    if (!out.empty()) out += "|";
    out += c.name;
  }
  return out;
}

std::string help(const std::vector<NamedChoice>& table) {
  std::string out;
  for (const auto& c : table) {
    if (!out.empty()) out += "; ";
    out += cat(c.name, ": ", c.help);
  }
  return out;
}

size_t find(const std::vector<NamedChoice>& table, const std::string& s, const std::string& flag,
            const char* what) {
  for (size_t i = 0; i < table.size(); ++i) {
    if (s == table[i].name) return i;
  }
  fail(cat(flag, " '", s, "': unknown ", what, " (expected ", choices(table), ")"));
}

}  // namespace

const std::vector<NamedChoice>& profile_method_table() {
  static const std::vector<NamedChoice> table = {
      {"weight_svd", "left singular vectors of each KV head's W_K / W_V rows (no data needed)"},
      {"activation_pca", "eigenvectors of per-head K / V second moments on calibration text"},
      {"output_aware",
       "activation_pca keys; values from the encoder/decoder pair minimising E|W_O,g (v - v^)|^2 "
       "over the query heads reading the KV head (needs --store-fused)"},
  };
  return table;
}

const std::vector<NamedChoice>& key_space_table() {
  static const std::vector<NamedChoice> table = {
      {"pre_rope", "key basis describes keys before RoPE (reconstruct, then rotate)"},
      {"post_rope", "key basis describes keys after RoPE (activation_pca only)"},
  };
  return table;
}

const char* profile_method_name(ProfileMethod m) {
  return profile_method_table().at(static_cast<size_t>(m)).name;
}
const char* key_space_name(KeySpace k) { return key_space_table().at(static_cast<size_t>(k)).name; }

ProfileMethod parse_profile_method(const std::string& s, const std::string& flag) {
  return static_cast<ProfileMethod>(find(profile_method_table(), s, flag, "method"));
}
KeySpace parse_key_space(const std::string& s, const std::string& flag) {
  return static_cast<KeySpace>(find(key_space_table(), s, flag, "key space"));
}

std::string profile_method_choices() { return choices(profile_method_table()); }
std::string key_space_choices() { return choices(key_space_table()); }
std::string profile_method_help() { return help(profile_method_table()); }
std::string key_space_help() { return help(key_space_table()); }

}  // namespace kvsvd
