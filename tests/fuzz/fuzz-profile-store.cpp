// Fuzz target: an HDF5 profile store (the input is written to a scratch file and opened with
// ProfileStoreReader). Accepted layers must hold arrays of exactly the sizes the header
// implies; verify() must finish. HDF5 itself is not instrumented: a crash inside libhdf5 is
// reported as such (see results/fuzz/), ours are fixed in core/store.
#include <cstdint>
#include <string>

#include "core/store/profile-store.h"
#include "tests/fuzz/fuzz-input.h"

using namespace kvsvd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (fuzz::scratch_dir() / "store.h5").string();
  fuzz::write_file(path, data, size);
  fuzz::expect_ok_or_error([&] {
    const ProfileStoreReader r = ProfileStoreReader::open(path);
    const StoreHeader& h = r.header();
    KVSVD_FUZZ_ASSERT(h.num_layers > 0 && h.n_kv > 0 && h.head_dim > 0 && h.n_q > 0);
    // A corrupt header may claim millions of layers; a few show whether layers are checked.
    const int64_t layers = h.num_layers < 8 ? h.num_layers : 8;
    for (int64_t l = 0; l < layers; ++l) {
      fuzz::expect_ok_or_error([&] {
        const LayerProfile p = r.read_layer(l);
        const size_t per_head_dim = size_t(h.n_kv * h.head_dim);
        KVSVD_FUZZ_ASSERT(p.key_basis.size() == per_head_dim * size_t(p.key_rank));
        KVSVD_FUZZ_ASSERT(p.value_basis.size() == per_head_dim * size_t(p.value_rank));
        KVSVD_FUZZ_ASSERT(p.key_spectrum.size() == per_head_dim);
        KVSVD_FUZZ_ASSERT(p.key_head_rank.size() == size_t(h.n_kv));
      });
    }
    if (h.num_layers <= 8) (void)r.verify();
  });
  return 0;
}
