// The embedded default model against transformers: same token windows (our tokenizer + window
// cutting vs HF tokenizers), perplexity within 0.1%, identical greedy continuation.
#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/eval/perplexity.h"
#include "core/kv/full-cache.h"
#include "core/model/generate.h"
#include "core/model/llama.h"
#include "core/tokenizer/tokenizer.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

const std::string kRoot = KVSVD_SOURCE_DIR;

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  REQUIRE(f.good());
  return nlohmann::json::parse(f);
}

const LlamaModel& bundled_model() {
  static LlamaModel model =
      LlamaModel::load(kRoot + "/assets/models/sotu-llama-tiny", at::Device(at::kCPU), at::kFloat);
  return model;
}

void check_dataset(const std::string& ref_name) {
  auto ref = read_json(kRoot + "/tests/data/bundled-ref/" + ref_name);
  const auto tok = Tokenizer::from_file(kRoot + "/" + ref["model"].get<std::string>() + "/tokenizer.json");
  const std::string path = kRoot + "/" + ref["dataset"].get<std::string>();
  const bool jsonl = ref["format"] == "jsonl";
  auto texts = read_text_documents(path, jsonl ? TextFormat::Jsonl : TextFormat::Text,
                                   ref["field"].get<std::string>());
  std::vector<TokenIds> docs;
  for (const auto& t : texts) docs.push_back(tok.encode(t, false));
  WindowSpec spec;
  spec.seq_len = ref["seq_len"];
  spec.stride = ref["stride"];
  spec.pack = ref["pack"];
  spec.max_windows = ref["max_windows"];
  spec.eos_id = tok.eos_id();
  auto windows = make_windows(docs, spec, path);
  auto want = ref["windows"].get<std::vector<std::vector<int32_t>>>();
  REQUIRE(windows.size() == want.size());
  for (size_t w = 0; w < want.size(); ++w) {
    INFO("window " << w);
    REQUIRE(windows[w] == want[w]);
  }

  const auto& model = bundled_model();
  double nll = 0;
  int64_t n = 0;
  for (const auto& win : windows) {
    FullCache cache(model.config(), 1, static_cast<int64_t>(win.size()), at::kFloat, at::Device(at::kCPU));
    auto s = score_window(model, cache, win);
    nll += s.nll_sum;
    n += s.tokens;
  }
  const double ppl = std::exp(nll / static_cast<double>(n));
  const double ref_ppl = ref["perplexity"];
  std::printf("bundled %s: kvsvd ppl %.5f, transformers %.5f, rel diff %.2e (%lld tokens)\n",
              ref_name.c_str(), ppl, ref_ppl, std::abs(ppl - ref_ppl) / ref_ppl,
              static_cast<long long>(n));
  CHECK(n == ref["tokens_scored"].get<int64_t>());
  CHECK(std::abs(ppl - ref_ppl) / ref_ppl < 1e-3);
}

}  // namespace

TEST_CASE("bundled model: held-out SOTU windows and perplexity match transformers", "[bundled]") {
  check_dataset("ppl-sotu-heldout.json");
}

TEST_CASE("bundled model: Moby-Dick windows and perplexity match transformers", "[bundled]") {
  check_dataset("ppl-moby-dick-ood.json");
}

TEST_CASE("bundled model: greedy continuation matches transformers", "[bundled]") {
  auto ref = read_json(kRoot + "/tests/data/bundled-ref/greedy.json");
  auto prompt = ref["prompt_ids"].get<std::vector<int64_t>>();
  auto want = ref["greedy_new_ids"].get<std::vector<int64_t>>();
  const auto& model = bundled_model();
  FullCache cache(model.config(), 1, 128, at::kFloat, at::Device(at::kCPU));
  SamplingConfig greedy;
  auto got = generate(model, cache, prompt, ref["max_new_tokens"].get<int64_t>(), greedy);
  REQUIRE(got == want);
}
