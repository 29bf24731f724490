// Writes the profile-store seed of fuzz-profile-store: a complete one-layer store, small enough
// to commit (tests/fuzz/corpus/profile-store/tiny.h5). Usage: fuzz-make-store-seed OUT.h5
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/store/profile-store.h"

using namespace kvsvd;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.h5\n", argv[0]);
    return 2;
  }
  StoreHeader h;
  h.model_fingerprint = "sha256:fuzz-seed";
  h.model_config = R"({"hidden_size": 8, "num_hidden_layers": 1})";
  h.profile_config = R"({"method": "weight_svd", "key_rank": 2, "key_space": "pre_rope"})";
  h.device = "cpu";
  h.created_utc = "2026-11-23T00:00:00Z";
  h.num_layers = 1;
  h.n_kv = 1;
  h.head_dim = 4;
  h.n_q = 2;
  h.hidden = 8;
  h.key_rank = 2;
  h.value_rank_names = {"low", "high"};
  h.value_rank_values = {1, 3};
  ProfileStoreWriter w = ProfileStoreWriter::create(argv[1], h, /*overwrite=*/true);
  for (int64_t l = 0; l < h.num_layers; ++l) {
    LayerProfile p;
    p.layer = l;
    p.n_kv = h.n_kv;
    p.head_dim = h.head_dim;
    p.key_rank = 2;
    p.value_rank = 3;
    // Columns of the identity: orthonormal, so verify() passes on the seed.
    auto eye = [&](int64_t r) {
      std::vector<float> b(size_t(h.head_dim * r), 0.0f);
      for (int64_t c = 0; c < r; ++c) b[size_t(c * r + c)] = 1.0f;
      return b;
    };
    p.key_basis = eye(p.key_rank);
    p.value_basis = eye(p.value_rank);
    p.key_spectrum = {4, 3, 2, 1};
    p.value_spectrum = {5, 2, 1, 0.5f};
    p.key_energy = {0.5f, 0.8f, 0.95f, 1};
    p.value_energy = {0.8f, 0.9f, 0.97f, 1};
    p.key_head_rank = {2};
    p.value_head_rank = {3};
    p.key_error = {0.1f};
    // No fused_output (optional): every extra dataset adds ~4 KB of HDF5 structure to mutate.
    w.write_layer(p);
  }
  w.finalize();
  return 0;
}
