// Registers the evaluate-stage subcommands: `evaluate` scores token windows through a KV cache.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/eval/perplexity.h"
#include "core/kv/full-cache.h"
#include "core/kv/methods.h"
#include "core/model/aten-device.h"
#include "core/model/llama.h"
#include "core/util/cli-run.h"
#include "core/util/error.h"
#include "core/util/json-util.h"
#include "stages/commands.h"

namespace kvsvd {
namespace {

struct EvaluateArgs {
  std::string model;
  std::string method = "full";
  std::string dataset;
  std::string device = "auto";
  std::string dtype = "float32";
};

// A JSON array of token-id arrays, one window each; errors name the file and the indices.
std::vector<std::vector<int32_t>> read_windows(const std::string& path) {
  const nlohmann::json j = load_json_file(path);
  KVSVD_CHECK(j.is_array() && !j.empty(), path, ": expected a non-empty JSON array of token-id arrays");
  std::vector<std::vector<int32_t>> out;
  for (size_t w = 0; w < j.size(); ++w) {
    KVSVD_CHECK(j[w].is_array(), path, ": window ", w, " is not an array");
    KVSVD_CHECK(j[w].size() >= 2, path, ": window ", w, " has ", j[w].size(),
                " tokens (at least 2 are needed to score one)");
    std::vector<int32_t> ids;
    for (size_t i = 0; i < j[w].size(); ++i) {
      const auto& v = j[w][i];
      KVSVD_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX,
                  path, ": window ", w, " element ", i, " is not a token id");
      ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
    out.push_back(std::move(ids));
  }
  return out;
}

void run_evaluate(const EvaluateArgs& a) {
  KVSVD_CHECK(!a.model.empty(), "--model DIR (or the environment variable KVSVD_MODEL) is required");
  const KvMethod method = parse_kv_method(a.method, "--method");
  KVSVD_CHECK(method == KvMethod::Full, "--method ", a.method,
              ": not available in this evaluate yet (implemented: full)");
  const auto windows = read_windows(a.dataset);
  const at::Device device = resolve_device(a.device);
  const at::ScalarType dtype = resolve_dtype(a.dtype);
  const LlamaModel model = LlamaModel::load(a.model, device, dtype);

  const auto t0 = std::chrono::steady_clock::now();
  double nll = 0;
  int64_t tokens = 0, peak_bytes = 0;
  for (const auto& win : windows) {
    FullCache cache(model.config(), 1, static_cast<int64_t>(win.size()), dtype, device);
    const WindowScore s = score_window(model, cache, win);
    nll += s.nll_sum;
    tokens += s.tokens;
    peak_bytes = std::max(peak_bytes, cache.bytes());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double mean = nll / static_cast<double>(tokens);
  nlohmann::json out = {{"method", kv_method_name(method)},
                        {"model", a.model},
                        {"dataset", a.dataset},
                        {"windows", windows.size()},
                        {"tokens", tokens},
                        {"nll_mean", mean},
                        {"perplexity", std::exp(mean)},
                        {"kv_bytes_peak", peak_bytes},
                        {"seconds", seconds},
                        {"device", device.str()},
                        {"dtype", aten_dtype_name(dtype)}};
  std::printf("%s\n", out.dump(2).c_str());
}

}  // namespace

void register_evaluate_commands(CLI::App& app) {
  auto args = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate", "Score token windows through a KV cache; prints NLL and perplexity as JSON");
  cmd->add_option("--model", args->model, "Hugging Face model directory (config.json + safetensors)")
      ->envname("KVSVD_MODEL");
  cmd->add_option("--method", args->method, "KV-cache method (default full):\n" + kv_methods_help());
  cmd->add_option("--dataset", args->dataset,
                  "JSON file: an array of token-id arrays, one window each (every position "
                  "after the first is scored)")
      ->required();
  cmd->add_option("--device", args->device, "cpu | cuda | cuda:N | auto (default auto)");
  cmd->add_option("--dtype", args->dtype, "float32 | bfloat16 | float16 (default float32)");
  cmd->callback([args]() {
    const int rc = run_command("evaluate", [&]() { run_evaluate(*args); });
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace kvsvd
