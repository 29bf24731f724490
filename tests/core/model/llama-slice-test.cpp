// Pipeline slices of a Llama: two slices run in turn give the whole model's logits bit for bit
// (full and quant caches, prefill then a decode step), and a slice reads only its own tensors.
#include "core/model/llama-slice.h"

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/eval/cache-factory.h"
#include "core/util/error.h"
#include "support/random-llama.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

StageSlice slice_of(int stage, int64_t first, int64_t end, bool last) {
  StageSlice s;
  s.stage = stage;
  s.first_layer = first;
  s.end_layer = end;
  s.embed = stage == 0;
  s.head = last;
  return s;
}

std::string load_error(const Checkpoint& ckpt, const StageSlice& s) {
  try {
    LlamaSlice::load(ckpt, s, at::Device(at::kCPU), at::kFloat);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("two slices give the whole model's logits bit for bit", "[pipeline]") {
  kvsvd_test::TempDir dir;
  kvsvd_test::write_random_llama(dir.path, kvsvd_test::RandomLlamaSpec{});  // 5 layers
  const at::Device cpu(at::kCPU);
  const LlamaModel model = LlamaModel::load(dir.path, cpu, at::kFloat);
  const Checkpoint ckpt = Checkpoint::open(dir.path);
  const LlamaConfig& c = ckpt.config();
  const LlamaSlice a = LlamaSlice::load(ckpt, slice_of(0, 0, 2, false), cpu, at::kFloat);
  const LlamaSlice b = LlamaSlice::load(ckpt, slice_of(1, 2, 5, true), cpu, at::kFloat);
  CHECK(a.local_config().num_layers == 2);
  CHECK(b.local_config().num_layers == 3);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const at::Tensor tokens = at::randint(0, c.vocab_size, {1, 20}, gen, at::kLong);  // [1, 20]
  for (const KvMethod m : {KvMethod::Full, KvMethod::Quant}) {
    CacheConfig cc;
    cc.method = m;
    cc.kv_bits = m == KvMethod::Quant ? 4 : 0;
    cc.residual = 4;
    INFO(cache_config_label(cc));
    auto whole = make_cache(cc, model, nullptr, 24);
    auto ca = make_cache(cc, a.local_config(), at::kFloat, cpu, nullptr, 24);
    auto cb = make_cache(cc, b.local_config(), at::kFloat, cpu, nullptr, 24);
    const at::Tensor ref = model.forward(tokens, *whole);                       // [1, 20, V]
    const at::Tensor got = b.head(b.layers(a.layers(a.embed(tokens), *ca), *cb), false);
    CHECK(at::equal(ref, got));
    CHECK(ca->bytes() + cb->bytes() == whole->bytes());  // each stage holds its layers' KV
    const at::Tensor step = at::full({1, 1}, 3, at::kLong);
    const at::Tensor ref1 = model.forward(step, *whole, /*last_only=*/true);  // [1, 1, V]
    const at::Tensor got1 = b.head(b.layers(a.layers(a.embed(step), *ca), *cb), true);
    CHECK(at::equal(ref1, got1));
  }
}

TEST_CASE("a slice reads only its own tensors", "[pipeline]") {
  kvsvd_test::TempDir dir;
  kvsvd_test::write_random_llama(dir.path, kvsvd_test::RandomLlamaSpec{});  // layers 0..4
  // config.json claims a sixth layer whose tensors the file lacks: only a slice holding it fails.
  nlohmann::json cfg;
  std::ifstream(dir / "config.json") >> cfg;
  cfg["num_hidden_layers"] = 6;
  std::ofstream(dir / "config.json") << cfg.dump(2);
  const Checkpoint ckpt = Checkpoint::open(dir.path);
  CHECK(load_error(ckpt, slice_of(0, 0, 3, false)).empty());
  const std::string err = load_error(ckpt, slice_of(1, 3, 6, true));
  INFO(err);
  CHECK(err.find("model.layers.5.") != std::string::npos);
  // The head and final norm are read by the last slice only.
  CHECK(load_error(ckpt, slice_of(1, 3, 5, false)).empty());
}
