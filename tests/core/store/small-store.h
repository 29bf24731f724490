// A small, complete profile store for the integrity and corruption tests (2 layers, every
// optional dataset present in one of them), and byte-level helpers to damage copies of it.
#pragma once
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/store/profile-store.h"

namespace kvsvd::test {

inline StoreHeader small_store_header() {
  StoreHeader h;
  h.model_fingerprint = "sha256:small";
  h.model_config = R"({"hidden_size": 4})";
  h.profile_config = R"({"method": "activation_pca", "key_space": "pre_rope"})";
  h.device = "cpu";
  h.num_layers = 2;
  h.n_kv = 1;
  h.head_dim = 4;
  h.n_q = 2;
  h.hidden = 4;
  h.key_rank = 2;
  h.value_rank_names = {"low", "high"};
  h.value_rank_values = {1, 2};
  return h;
}

// Layer `l`: bases are the first two unit vectors (exactly orthonormal), other arrays distinct
// per layer; layer 0 holds the errors, layer 1 the fused output.
inline LayerProfile small_store_layer(const StoreHeader& h, int64_t l) {
  LayerProfile p;
  p.layer = l;
  p.n_kv = h.n_kv;
  p.head_dim = h.head_dim;
  p.key_rank = 2;
  p.value_rank = 2;
  p.key_basis = {1, 0, 0, 1, 0, 0, 0, 0};    // [1, 4, 2]
  p.value_basis = {0, 0, 1, 0, 0, 1, 0, 0};  // [1, 4, 2]
  const float s = 1.0f + float(l);
  p.key_spectrum = {4 * s, 3 * s, 2 * s, s};
  p.value_spectrum = {5 * s, 2 * s, s, 0.5f * s};
  p.key_energy = {0.4f, 0.7f, 0.9f, 1.0f};
  p.value_energy = {0.6f, 0.8f, 0.95f, 1.0f};
  p.key_head_rank = {2};
  p.value_head_rank = {2};
  if (l == 0) {
    p.key_error = {0.125f};
    p.value_error = {0.25f};
  } else {
    p.hidden = h.hidden;
    for (int i = 0; i < 16; ++i) p.fused_output.push_back(0.5f * float(i) - 3.0f);  // [2, 4, 2]
  }
  return p;
}

// Writes the store to `path` (finalized); returns its path.
inline std::string write_small_store(const std::string& path) {
  const StoreHeader h = small_store_header();
  ProfileStoreWriter w = ProfileStoreWriter::create(path, h);
  for (int64_t l = 0; l < h.num_layers; ++l) w.write_layer(small_store_layer(h, l));
  w.finalize();
  return path;
}

inline std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(),
                                                                std::streamsize(bytes.size()));
}

// A copy of `from` at `to` with the bytes [at, at + n) inverted (XOR 0xFF).
inline void write_flipped(const std::vector<char>& from, const std::string& to, uint64_t at,
                          uint64_t n) {
  std::vector<char> b = from;
  for (uint64_t i = at; i < at + n && i < b.size(); ++i) b[i] = char(b[i] ^ 0xFF);
  write_bytes(to, b);
}

}  // namespace kvsvd::test
