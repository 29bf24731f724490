// `kvsvd sweep plan`: expands a sweep YAML (datasets, shared profiles, a grid and/or explicit runs)
// into a Manifest of exact job argument lists. The YAML keys are documented at the top of
// config/sweeps/sotu-tiny.yaml; unknown keys are errors naming the file and line.
#pragma once
#include <string>
#include <vector>

#include "stages/sweep/sweep-manifest.h"

namespace kvsvd {

struct SweepPlanOptions {
  std::string base_dir;     // relative paths in the sweep resolve against it ("": the cwd)
  bool check_paths = true;  // model, tokenizer, datasets, calibration files must exist
};

// `notes` (optional) receives one line per thing worth telling the user that is not an error
// (duplicate grid points merged, profiles no run reads).
Manifest plan_sweep(const std::string& sweep_path, const SweepPlanOptions& opt = {},
                    std::vector<std::string>* notes = nullptr);
// Same, from text; `source` names it in errors.
Manifest plan_sweep_text(const std::string& yaml_text, const std::string& source,
                         const SweepPlanOptions& opt = {}, std::vector<std::string>* notes = nullptr);

}  // namespace kvsvd
