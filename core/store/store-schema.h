// The profile store's HDF5 schema: every path, attribute name and layer dataset, in one place.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/compress/layer-profile.h"

namespace kvsvd {
namespace store_schema {

// Bump kVersion on any change an older reader would misread; readers refuse other versions.
// Version 2: the checksummed 1.10 file format and the root attribute `content_digest`
// (core/store/store-digest.h). Version 1 stores carry no digest and are refused.
inline constexpr const char* kName = "kvsvd-profile-store";
inline constexpr int64_t kVersion = 2;

// ---- root attributes (on "/") ----
namespace root_attr {
inline constexpr const char* schema = "schema";                  // string: kName
inline constexpr const char* schema_version = "schema_version";  // int64: kVersion
inline constexpr const char* model_fingerprint = "model_fingerprint";
inline constexpr const char* model_config = "model_config";      // JSON text
inline constexpr const char* profile_config = "profile_config";  // JSON text
inline constexpr const char* calibration_fingerprint = "calibration_fingerprint";  // "" if none
inline constexpr const char* kvsvd_version = "kvsvd_version";
inline constexpr const char* git_rev = "git_rev";
inline constexpr const char* world_size = "world_size";  // int64: MPI ranks that computed it
inline constexpr const char* device = "device";
inline constexpr const char* created_utc = "created_utc";  // ISO 8601, "...Z"
inline constexpr const char* num_layers = "num_layers";    // int64 dims of the model
inline constexpr const char* n_kv = "n_kv";
inline constexpr const char* head_dim = "head_dim";
inline constexpr const char* n_q = "n_q";
inline constexpr const char* hidden = "hidden";
inline constexpr const char* key_rank = "key_rank";                    // int64: nominal key rank
inline constexpr const char* value_rank_names = "value_rank_names";    // JSON array of strings
inline constexpr const char* value_rank_values = "value_rank_values";  // JSON array of ints
// JSON (StoreDigest), written by finalize() after every layer: SHA-256 of every object.
inline constexpr const char* content_digest = "content_digest";
}  // namespace root_attr

// ---- layer groups: "/layers/<i>" ----
inline constexpr const char* kLayersGroup = "layers";  // relative to "/"
inline std::string layer_group_name(int64_t layer) {   // relative to "/": "layers/<i>"
  return std::string(kLayersGroup) + "/" + std::to_string(layer);
}
inline std::string layer_group_path(int64_t layer) { return "/" + layer_group_name(layer); }

namespace layer_attr {
inline constexpr const char* layer = "layer";            // int64: the layer index again
inline constexpr const char* key_rank = "key_rank";      // int64: columns of key_basis
inline constexpr const char* value_rank = "value_rank";  // int64: columns of value_basis
inline constexpr const char* hidden = "hidden";          // int64: 0 unless fused_output stored
// int64 0/1, written LAST, after every dataset of the group: a group without complete == 1 is
// the remains of an interrupted write and is rewritten on resume.
inline constexpr const char* complete = "complete";
}  // namespace layer_attr

// Shapes of the layer datasets, in terms of the header's dims and the layer's own ranks.
enum class ShapeKind {
  key_basis,     // [n_kv, head_dim, key_rank]
  value_basis,   // [n_kv, head_dim, value_rank]
  per_head_dim,  // [n_kv, head_dim]
  per_head,      // [n_kv]
  fused_output,  // [n_q, hidden, value_rank]
};

enum class ElementType { float32, int32 };

// One row per layer dataset: the writer, the reader, verify() and `kvsvd inspect` all walk this
// table, so adding a dataset is one line here plus the LayerProfile field.
struct LayerDatasetSpec {
  const char* name;
  ElementType type;
  ShapeKind shape;
  bool optional;  // optional datasets are omitted when the LayerProfile array is empty
  std::vector<float> LayerProfile::*f32;    // set when type == float32
  std::vector<int32_t> LayerProfile::*i32;  // set when type == int32
};

inline const std::vector<LayerDatasetSpec>& layer_datasets() {
  static const std::vector<LayerDatasetSpec> table = {
      {"key_basis", ElementType::float32, ShapeKind::key_basis, false, &LayerProfile::key_basis,
       nullptr},
      {"value_basis", ElementType::float32, ShapeKind::value_basis, false,
       &LayerProfile::value_basis, nullptr},
      {"key_spectrum", ElementType::float32, ShapeKind::per_head_dim, false,
       &LayerProfile::key_spectrum, nullptr},
      {"value_spectrum", ElementType::float32, ShapeKind::per_head_dim, false,
       &LayerProfile::value_spectrum, nullptr},
      {"key_energy", ElementType::float32, ShapeKind::per_head_dim, false,
       &LayerProfile::key_energy, nullptr},
      {"value_energy", ElementType::float32, ShapeKind::per_head_dim, false,
       &LayerProfile::value_energy, nullptr},
      {"key_head_rank", ElementType::int32, ShapeKind::per_head, false, nullptr,
       &LayerProfile::key_head_rank},
      {"value_head_rank", ElementType::int32, ShapeKind::per_head, false, nullptr,
       &LayerProfile::value_head_rank},
      {"key_error", ElementType::float32, ShapeKind::per_head, true, &LayerProfile::key_error,
       nullptr},
      {"value_error", ElementType::float32, ShapeKind::per_head, true,
       &LayerProfile::value_error, nullptr},
      {"fused_output", ElementType::float32, ShapeKind::fused_output, true,
       &LayerProfile::fused_output, nullptr},
  };
  return table;
}

}  // namespace store_schema
}  // namespace kvsvd
