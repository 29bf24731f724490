// Registers the generate-stage subcommands: `generate` (token ids in, new token ids out) and
// `tokenize` (tokenize-command.cpp).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model/aten-device.h"
#include "core/model/decode-engine.h"
#include "core/model/llama.h"
#include "core/util/cli-run.h"
#include "core/util/error.h"
#include "core/util/json-util.h"
#include "stages/commands.h"
#include "stages/generate/tokenize-command.h"

namespace kvsvd {
namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt_ids;
  int64_t max_new = 32;
  bool greedy = false;
  double temperature = 1.0;
  double top_p = 1.0;
  uint64_t seed = 0;
  std::string device = "auto";
  std::string dtype = "float32";
  std::vector<int64_t> stop_ids;
  bool ignore_eos = false;
  bool stats = false;
};

// A JSON array of non-negative integers; errors name the file and the index.
std::vector<int64_t> read_prompt_ids(const std::string& path) {
  const nlohmann::json j = load_json_file(path);
  KVSVD_CHECK(j.is_array(), path, ": expected a JSON array of token ids");
  KVSVD_CHECK(!j.empty(), path, ": the prompt is empty");
  std::vector<int64_t> ids;
  for (size_t i = 0; i < j.size(); ++i) {
    KVSVD_CHECK(j[i].is_number_integer() && j[i].get<int64_t>() >= 0, path, ": element ", i,
                " is not a non-negative integer token id");
    ids.push_back(j[i].get<int64_t>());
  }
  return ids;
}

void run_generate(const GenerateArgs& a, const CLI::App& cmd) {
  KVSVD_CHECK(!a.model.empty(), "--model DIR (or the environment variable KVSVD_MODEL) is required");
  KVSVD_CHECK(a.max_new >= 0, "--max-new-tokens must be >= 0, got ", a.max_new);
  SamplingConfig sampling;
  const bool sampled = cmd.count("--temperature") + cmd.count("--top-p") > 0;
  KVSVD_CHECK(!(a.greedy && sampled), "--greedy cannot be combined with --temperature / --top-p");
  KVSVD_CHECK(sampled || cmd.count("--seed") == 0,
              "--seed only applies to sampling: give --temperature and/or --top-p");
  sampling.greedy = !sampled;
  sampling.temperature = a.temperature;
  sampling.top_p = a.top_p;
  sampling.seed = a.seed;

  const std::vector<int64_t> prompt = read_prompt_ids(a.prompt_ids);
  const at::Device device = resolve_device(a.device);
  const at::ScalarType dtype = resolve_dtype(a.dtype);
  const LlamaModel model = LlamaModel::load(a.model, device, dtype);
  const LlamaConfig& cfg = model.config();
  std::vector<int64_t> stop = a.stop_ids;
  if (!a.ignore_eos) stop.insert(stop.end(), cfg.eos_token_ids.begin(), cfg.eos_token_ids.end());

  // The decode engine: fixed-capacity cache, each CUDA step one graph replay, token choice on the
  // device (seeded sampling draws from the device sampler's own counter-based stream).
  DecodeEngine engine(model);
  DecodeStats st;
  const at::Tensor ids =
      at::tensor(at::ArrayRef<int64_t>(prompt), at::kLong).view({1, int64_t(prompt.size())});
  const std::vector<int64_t> out =
      a.max_new > 0 ? engine.generate(ids, a.max_new, sampling, stop, &st)[0] : std::vector<int64_t>{};
  std::printf("%s\n", nlohmann::json(out).dump().c_str());
  if (a.stats) {
    const double tps = st.decode_seconds > 0 && st.steps > 0
                           ? static_cast<double>(st.steps) / st.decode_seconds
                           : 0.0;
    nlohmann::json s = {{"prompt_tokens", prompt.size()},   {"new_tokens", out.size()},
                        {"prefill_seconds", st.prefill_seconds},
                        {"decode_seconds", st.decode_seconds},
                        {"decode_tokens_per_second", tps},  {"kv_bytes", st.kv_bytes},
                        {"cuda_graph", st.graph},
                        {"device", device.str()},           {"dtype", aten_dtype_name(dtype)}};
    std::fprintf(stderr, "%s\n", s.dump().c_str());
  }
}

void register_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "generate", "Continue a prompt of token ids; prints the new ids as a JSON array");
  cmd->add_option("--model", args->model, "Hugging Face model directory (config.json + safetensors)")
      ->envname("KVSVD_MODEL");
  cmd->add_option("--prompt-ids", args->prompt_ids, "JSON file holding an array of token ids")
      ->required();
  cmd->add_option("--max-new-tokens", args->max_new, "tokens to generate (default 32)");
  cmd->add_flag("--greedy", args->greedy, "argmax decoding (the default without --temperature/--top-p)");
  cmd->add_option("--temperature", args->temperature, "sampling temperature (> 0); enables sampling");
  cmd->add_option("--top-p", args->top_p, "nucleus mass in (0, 1]; enables sampling");
  cmd->add_option("--seed", args->seed, "sampling seed (default 0)");
  cmd->add_option("--device", args->device, "cpu | cuda | cuda:N | auto (default auto)");
  cmd->add_option("--dtype", args->dtype, "float32 | bfloat16 | float16 (default float32)");
  cmd->add_option("--stop-ids", args->stop_ids, "extra ids that end generation (kept in the output)");
  cmd->add_flag("--ignore-eos", args->ignore_eos, "do not stop at the config's eos_token_id");
  cmd->add_flag("--stats", args->stats, "print timing and KV bytes as JSON on stderr");
  cmd->callback([args, cmd]() {
    const int rc = run_command("generate", [&]() { run_generate(*args, *cmd); });
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace

void register_generate_commands(CLI::App& app) {
  register_generate(app);
  register_tokenize_command(app);
}

}  // namespace kvsvd
