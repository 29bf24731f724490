// `kvsvd bench prefill|decode`: the C++ side of scripts/gpu-bench.sh (tokens/s, peak memory and
// KV bytes per token of one method on one device).
#include <CLI/CLI.hpp>

#include <memory>

#include "core/util/cli-run.h"
#include "stages/bench/bench-options.h"
#include "stages/commands.h"

namespace kvsvd {
namespace {

void add_common(CLI::App* c, BenchOptions& o) {
  c->add_option("--model", o.model, "Hugging Face model directory")->required();
  c->add_option("--device", o.device, "cpu | cuda | cuda:N | auto");
  c->add_option("--dtype", o.dtype, "float32 | bfloat16 | float16");
  c->add_option("--method", o.method, "full | svd | chunked | quant");
  c->add_option("--store", o.store, "profile store (svd)");
  c->add_option("--key-rank", o.key_rank, "svd key rank (0: the store's)");
  c->add_option("--policy", o.policy, "svd value-rank policy");
  c->add_option("--chunk-size", o.chunk_size, "chunked: rows per chunk");
  c->add_option("--compression-ratio", o.compression_ratio, "chunked: compression ratio");
  c->add_option("--kv-bits", o.kv_bits, "storage bits: svd, chunked 0|16|8|4|2; quant 16|8|4|2");
  c->add_option("--quant-group", o.quant_group, "quantization group (quant: tokens per key block)");
  c->add_option("--residual", o.residual, "quant: newest tokens kept unquantized");
  c->add_option("--batch", o.batch, "sequences per forward");
  c->add_option("--repeat", o.repeat, "timed passes after one warm-up pass");
  c->add_option("--json", o.json, "also write the result object to this file");
}

}  // namespace

void register_bench_commands(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* bench = app.add_subcommand("bench", "throughput of the model and its KV caches");
  bench->require_subcommand(1);
  CLI::App* pre = bench->add_subcommand("prefill", "teacher-forced passes over token windows");
  add_common(pre, *o);
  pre->add_option("--windows", o->windows, "token-id JSON of equal-length windows")->required();
  pre->add_option("--dump-logits", o->dump_logits, "write raw float32 logits of the first windows");
  pre->add_option("--dump-windows", o->dump_windows, "windows dumped");
  pre->add_option("--dump-positions", o->dump_positions, "last positions dumped per window");
  pre->callback([o] {
    const int rc = run_command("bench prefill", [&] { run_bench_prefill(*o); });
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
  CLI::App* dec = bench->add_subcommand("decode", "greedy decode after a random-token context");
  add_common(dec, *o);
  dec->add_option("--context", o->contexts, "context tokens per sequence (a list: every point)")
      ->delimiter(',');
  dec->add_option("--batches", o->batches, "batch sizes (a list; default --batch)")->delimiter(',');
  dec->add_option("--new-tokens", o->new_tokens, "greedy steps timed");
  dec->add_option("--seed", o->seed, "seed of the random context");
  dec->add_flag("--cuda-graph", o->cuda_graph,
                "each decode step recorded once as a CUDA graph and replayed (full, svd, quant; "
                "chunked and svd --kv-bits/--hadamard steps run eagerly)");
  dec->callback([o] {
    const int rc = run_command("bench decode", [&] { run_bench_decode(*o); });
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace kvsvd
