// `kvsvd report`'s equal-memory view on hand-made summaries: pairs of configurations of different
// schemes within 5% KV bytes per token, reductions against an fp16 full cache (the float32 full
// row's kv_bits = 32 halves every ratio), the best configuration at 2x / 4x / 8x, and the
// Pareto front across all methods.
#include <cmath>
#include <string>

#include "support/catch.h"
#include "support/cli-harness.h"

using namespace report_test;

namespace {

struct Row {
  const char* label;
  const char* method;
  int kv_bits;
  double bytes, ppl, gen;  // full: 1000 bytes/token (float32), perplexity 10
};

nlohmann::json result(const Row& c) {
  const std::string m = c.method;
  nlohmann::json params = {{"key_rank", m == "svd" ? 16 : 0},
                           {"policy", m == "svd" ? "position" : ""},
                           {"chunk_size", m == "chunked" ? 32 : 0},
                           {"kv_bits", c.kv_bits},
                           {"quant_group", c.kv_bits <= 8 ? 32 : 0},
                           {"residual", m == "quant" ? 16 : 0},
                           {"hadamard", false}};
  return {{"label", c.label},
          {"method", c.method},
          {"params", params},
          {"perplexity", c.ppl},
          {"delta_perplexity", c.ppl - 10.0},
          {"gen_token_agreement", c.gen},
          {"kv_bytes_per_token", c.bytes},
          {"compression_ratio_vs_full", 1000.0 / c.bytes}};
}

void write_summary(const fs::path& dir, const std::vector<Row>& rows) {
  nlohmann::json doc = {{"schema", "kvsvd-eval"},
                        {"schema_version", 1},
                        {"provenance", {{"dataset", "/data/heldout.jsonl"}}},
                        {"windows", 4},
                        {"seq_len", 64},
                        {"results", nlohmann::json::array()}};
  for (const auto& r : rows) doc["results"].push_back(result(r));
  write(dir / "summary.json", doc.dump(2));
}

}  // namespace

TEST_CASE("report: equal-memory pairs and the best configuration at 2x, 4x, 8x") {
  Scratch s("equal-memory");
  // vs fp16 full (500 bytes): svd16 2.0x, quant4 2.04x (within 5% of svd16), chunked 2.5x,
  // svd4 4.17x, quant2 4.0x (4% from svd4), svd-tiny 8.33x.
  write_summary(s.dir / "runs/a", {{"full", "full", 32, 1000, 10.0, 1.0},
                                   {"svd16", "svd", 16, 250, 10.8, 0.6},
                                   {"svd4", "svd", 4, 120, 11.0, 0.5},
                                   {"svd-tiny", "svd", 4, 60, 14.0, 0.2}});
  write_summary(s.dir / "runs/b", {{"full", "full", 32, 1000, 10.0, 1.0},
                                   {"quant4", "quant", 4, 245, 10.2, 0.9},
                                   {"quant2", "quant", 2, 125, 11.5, 0.4},
                                   {"chunked", "chunked", 16, 200, 10.5, 0.7}});
  const CliResult r = kvsvd({"report", "runs", "--out", "rep", "--no-plots"}, s.dir);
  INFO(r.out);
  REQUIRE(r.rc == 0);

  const auto pairs = read_csv(s.dir / "rep/equal-memory.csv");
  std::vector<std::string> got;
  for (const auto& p : pairs) got.push_back(p.at("a_label") + "~" + p.at("b_label"));
  INFO("pairs: " << got.size());
  // Different schemes within 5%: svd4/quant2 (120 vs 125) and quant4/svd16 (245 vs 250); the two
  // full rows share a scheme, svd-tiny and chunked have no neighbour within 5%.
  REQUIRE(pairs.size() == 2);
  CHECK(got[0] == "svd4~quant2");
  CHECK(got[1] == "quant4~svd16");
  CHECK(pairs[0].at("lower_perplexity") == "a");
  CHECK(pairs[1].at("lower_perplexity") == "a");
  CHECK(pairs[0].at("a_scheme") == "svd 4b");
  CHECK(pairs[0].at("b_scheme") == "quant 2b");
  CHECK(std::abs(std::atof(pairs[0].at("a_reduction_vs_fp16").c_str()) - 500.0 / 120) < 1e-6);

  const std::string md = read(s.dir / "rep/report.md");
  CHECK(contains(md, "## Equal memory"));
  // 2x: lowest perplexity with reduction >= 2 is quant4 (10.2); runner-up of another method
  // chunked (10.5). 4x: svd4 (11.0) then quant2 (11.5). 8x: svd-tiny only.
  CHECK(contains(md, "| 2x | `b/quant4` | quant 4b |"));
  CHECK(contains(md, "`b/chunked` | 2.50x | 10.500 | 0.700 |"));
  CHECK(contains(md, "| 4x | `a/svd4` | svd 4b |"));
  CHECK(contains(md, "`b/quant2` | 4.00x | 11.500 | 0.400 |"));
  CHECK(contains(md, "| 8x | `a/svd-tiny` | svd 4b |"));

  // The Pareto front spans every method: full, quant4, chunked, svd4, svd-tiny; not svd16
  // (beaten by quant4 and chunked) nor quant2 (beaten by svd4).
  std::map<std::string, std::string> pareto;
  for (const auto& row : read_csv(s.dir / "rep/table.csv"))
    pareto[row.at("run") + "/" + row.at("label")] = row.at("pareto");
  CHECK(pareto["b/quant4"] == "1");
  CHECK(pareto["b/chunked"] == "1");
  CHECK(pareto["a/svd4"] == "1");
  CHECK(pareto["a/svd-tiny"] == "1");
  CHECK(pareto["a/svd16"] == "0");
  CHECK(pareto["b/quant2"] == "0");
}
