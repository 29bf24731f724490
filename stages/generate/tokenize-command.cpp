// `kvsvd tokenize`: prints the ids of a text as a JSON array, or (--bench) the single-thread
// encode throughput over a file.
#include "stages/generate/tokenize-command.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/util/cli-run.h"
#include "core/util/error.h"
#include "core/util/json-util.h"
#if KVSVD_HAVE_TOKENIZER
#include "core/tokenizer/tokenizer.h"
#endif

namespace kvsvd {

namespace {

struct TokenizeArgs {
  std::string tokenizer;
  std::string text;
  std::string file;
  bool add_bos = false;
  bool bench = false;
  int passes = 3;
};

#if KVSVD_HAVE_TOKENIZER
void run_tokenize(const TokenizeArgs& a, CLI::App& cmd) {
  const bool have_text = cmd.count("--text") > 0;
  KVSVD_CHECK(have_text != !a.file.empty(), "give exactly one of --text and --file");
  KVSVD_CHECK(!a.bench || !a.file.empty(), "--bench needs --file");
  KVSVD_CHECK(a.passes >= 1, "--passes must be >= 1, got ", a.passes);
  const Tokenizer tok = Tokenizer::from_file(a.tokenizer);
  const std::string text = have_text ? a.text : read_text_file(a.file);
  if (!a.bench) {
    std::printf("%s\n", nlohmann::json(tok.encode(text, a.add_bos)).dump().c_str());
    return;
  }
  // Pass 1 starts with an empty pre-token cache; later passes show the warm-cache speed.
  nlohmann::json passes = nlohmann::json::array();
  double best = 0.0;
  size_t n_tokens = 0;
  for (int p = 0; p < a.passes; ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = tok.encode(text, a.add_bos);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    n_tokens = ids.size();
    const double mbs = static_cast<double>(text.size()) / 1e6 / s;
    best = std::max(best, mbs);
    passes.push_back({{"seconds", s}, {"mb_per_s", mbs}});
  }
  nlohmann::json out = {{"file", a.file},          {"bytes", text.size()},
                        {"tokens", n_tokens},      {"threads", 1},
                        {"passes", passes},        {"cold_mb_per_s", passes[0]["mb_per_s"]},
                        {"best_mb_per_s", best}};
  std::printf("%s\n", out.dump(2).c_str());
}
#endif

}  // namespace

void register_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Encode text with a Hugging Face tokenizer.json; prints the ids as a JSON array");
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer.json (Llama-3 style byte-level BPE)")
      ->required();
  cmd->add_option("--text", args->text, "text to encode");
  cmd->add_option("--file", args->file, "file whose whole content is encoded");
  cmd->add_flag("--add-bos", args->add_bos, "prepend the BOS token");
  cmd->add_flag("--bench", args->bench,
                "print single-thread encode throughput (MB/s) over --file instead of the ids");
  cmd->add_option("--passes", args->passes, "encode passes for --bench (default 3)");
  cmd->callback([args, cmd]() {
    const int rc = run_command("tokenize", [&]() {
#if KVSVD_HAVE_TOKENIZER
      run_tokenize(*args, *cmd);
#else
      fail("this kvsvd was built without the tokenizer (-DKVSVD_WITH_TOKENIZER=OFF): feed token "
           "ids instead");
#endif
    });
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace kvsvd
