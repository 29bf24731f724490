// The expanded form of a sweep: the exact argument lists of every profile, evaluate and report
// job, written by `kvsvd sweep plan` and read back by the sbatch scripts (`kvsvd sweep args`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kvsvd {

struct ManifestProfile {
  std::string id;                 // the profile's name in the sweep
  std::vector<std::string> args;  // after `kvsvd profile`
  std::string store_path;         // the store it writes (its --out)
};

struct ManifestRun {
  int64_t id = 0;                 // = index in `runs` = SLURM_ARRAY_TASK_ID
  std::string name;               // unique within the sweep; the last folder of out_dir
  std::string profile_id;         // empty: the run reads no profile store
  std::string method;
  std::string dataset;
  std::vector<std::string> args;  // after `kvsvd evaluate`
  std::string out_dir;            // its --out
};

struct Manifest {
  std::string name;
  std::string sweep_file;
  std::vector<ManifestProfile> profiles;  // each once, however many runs read it
  std::vector<ManifestRun> runs;
  std::vector<std::string> report_args;  // after `kvsvd report`
  std::string report_dir;
};

constexpr const char* kManifestSchema = "kvsvd-sweep-manifest";
constexpr int kManifestSchemaVersion = 1;

nlohmann::json manifest_to_json(const Manifest& m);
// Reads what `sweep plan` writes, and also a bare JSON array of runs or JSON lines (one run object
// per line), so a hand-written run list can drive the evaluate array. Errors name file and key.
Manifest load_manifest(const std::string& path);

}  // namespace kvsvd
