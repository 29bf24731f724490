// What the profile stage computes for one layer, as plain arrays (torch-free, HDF5-ready).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kvsvd {

// All arrays are row-major with the shape in the comment. Bases have orthonormal columns ordered
// by descending energy, so the first r columns are the rank-r basis (nested ranks).
struct LayerProfile {
  int64_t layer = 0;
  int64_t n_kv = 0;
  int64_t head_dim = 0;
  int64_t key_rank = 0;                  // columns stored per key basis (max over heads)
  int64_t value_rank = 0;                // columns stored per value basis (r_v_max)
  std::vector<float> key_basis;          // [n_kv, head_dim, key_rank]
  std::vector<float> value_basis;        // [n_kv, head_dim, value_rank]
  std::vector<float> key_spectrum;       // [n_kv, head_dim] singular values (weight_svd) or
  std::vector<float> value_spectrum;     //   eigenvalues (activation_pca), descending
  std::vector<float> key_energy;         // [n_kv, head_dim] retained energy at rank r = 1..head_dim
  std::vector<float> value_energy;       // [n_kv, head_dim]
  std::vector<int32_t> key_head_rank;    // [n_kv] rank used per head (adaptive profiles differ)
  std::vector<int32_t> value_head_rank;  // [n_kv] highest value rank per head
  std::vector<float> key_error;          // [n_kv] relative reconstruction error on calibration
  std::vector<float> value_error;        //   data at the head's rank (activation_pca; else empty)
  int64_t hidden = 0;                    // set when fused output matrices are stored
  std::vector<float> fused_output;       // [n_q, hidden, value_rank] W_O[:, head] · P_V(g(head))
};

}  // namespace kvsvd
