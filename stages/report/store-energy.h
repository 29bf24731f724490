// Per-layer retained energy of a profile store, for the report's energy plot.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kvsvd {

struct LayerEnergy {
  int64_t layer = 0;
  double key = 0;                 // mean over KV heads of the energy kept at the head's key rank
  std::vector<double> value;      // per value level (StoreEnergy::value_levels), mean over heads
};

struct StoreEnergy {
  std::string path;
  int64_t key_rank = 0;
  std::vector<std::string> value_levels;  // "low (16)", ...; or "max" when the store names none
  std::vector<LayerEnergy> layers;
};

// Reads every layer through the store reader (schema and checksums checked); errors name the file,
// layer and dataset.
StoreEnergy read_store_energy(const std::string& path);

}  // namespace kvsvd
