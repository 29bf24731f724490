// `kvsvd report` on hand-made summary.json files: merged table, Pareto front, recommendation,
// "none meets both" with the closest candidates, and errors naming the file and key.
#include <cmath>
#include <cstdlib>

#include "support/catch.h"
#include "support/cli-harness.h"

using namespace report_test;

namespace {

struct Config {
  const char* label;
  const char* method;
  double bytes, ppl;  // full cache: 1000 bytes/token, perplexity 10
};

// One result object in the documented summary format (results/README.md).
nlohmann::json result(const Config& c) {
  const double full_ppl = 10.0;
  nlohmann::json params = {{"key_rank", std::string(c.method) == "svd" ? 16 : 0},
                           {"policy", std::string(c.method) == "svd" ? "position" : ""},
                           {"chunk_size", std::string(c.method) == "chunked" ? 32 : 0}};
  if (std::string(c.method) == "svd") params["value_ranks"] = {{"low", 8}, {"med", 16}, {"high", 32}};
  return {{"label", c.label},
          {"method", c.method},
          {"params", params},
          {"nll_mean", std::log(c.ppl)},
          {"perplexity", c.ppl},
          {"delta_perplexity", c.ppl - full_ppl},
          {"delta_nll", std::log(c.ppl) - std::log(full_ppl)},
          {"kl_mean", (c.ppl - full_ppl) / 100},
          {"top1_agreement", 1 - (c.ppl - full_ppl) / 20},
          {"gen_prefix_match", 8},
          {"gen_token_agreement", 0.9},
          {"gen_rouge_l", 0.9},
          {"kv_bytes_per_token", c.bytes},
          {"compression_ratio_vs_full", 1000.0 / c.bytes},
          {"prefill_tokens_per_s", 1000},
          {"decode_tokens_per_s", 50},
          {"peak_memory_bytes", 1}};
}

void write_summary(const fs::path& run_dir, const std::vector<Config>& configs) {
  nlohmann::json doc = {{"schema", "kvsvd-eval"},
                        {"schema_version", 1},
                        {"provenance", {{"dataset", "/data/heldout.jsonl"}, {"world_size", 1}}},
                        {"windows", 4},
                        {"seq_len", 64},
                        {"scored_tokens", 252},
                        {"results", nlohmann::json::array()}};
  for (const auto& c : configs) doc["results"].push_back(result(c));
  write(run_dir / "summary.json", doc.dump(2));
}

// Five configurations over three runs. Front: full (1000, 10), chunked (500, 10.2),
// svd-a (400, 10.3), svd-b (250, 11.5); svd-dominated (600, 10.5) is beaten by chunked and svd-a.
void write_runs(const fs::path& root) {
  write_summary(root / "runs/full", {{"full", "full", 1000, 10.0}});
  write_summary(root / "runs/svd", {{"svd-a", "svd", 400, 10.3},
                                    {"svd-b", "svd", 250, 11.5},
                                    {"svd-dominated", "svd", 600, 10.5}});
  write_summary(root / "runs/chunked", {{"chunked", "chunked", 500, 10.2}});
}

std::map<std::string, std::map<std::string, std::string>> by_label(const fs::path& csv) {
  std::map<std::string, std::map<std::string, std::string>> out;
  for (const auto& row : read_csv(csv)) out[row.at("label")] = row;
  return out;
}

}  // namespace

TEST_CASE("report: merged table, Pareto front and the recommendation") {
  Scratch s("pareto");
  write_runs(s.dir);
  // A folder of run folders and an explicit run folder are both accepted.
  const CliResult r = kvsvd({"report", "runs/chunked", "runs/full", "runs/svd", "--out", "rep",
                             "--target-memory-reduction", "2", "--max-quality-loss", "0.05"},
                            s.dir);
  INFO(r.out);
  REQUIRE(r.rc == 0);
  CHECK(contains(r.out, "recommended: svd/svd-a"));
  auto rows = by_label(s.dir / "rep/table.csv");
  REQUIRE(rows.size() == 5);
  CHECK(rows["full"]["pareto"] == "1");
  CHECK(rows["chunked"]["pareto"] == "1");
  CHECK(rows["svd-a"]["pareto"] == "1");
  CHECK(rows["svd-b"]["pareto"] == "1");
  CHECK(rows["svd-dominated"]["pareto"] == "0");
  // Both chunked (2x, +2%) and svd-a (2.5x, +3%) qualify; svd-a keeps fewer bytes.
  CHECK(rows["svd-a"]["recommended"] == "1");
  for (const char* other : {"full", "chunked", "svd-b", "svd-dominated"})
    CHECK(rows[other]["recommended"] == "0");
  CHECK(std::stod(rows["svd-a"]["rel_ppl_increase"]) == Approx(0.03));
  CHECK(std::stod(rows["svd-b"]["compression_ratio_vs_full"]) == Approx(4.0));
  CHECK(rows["svd-a"]["value_ranks"] == "low=8,med=16,high=32");
  CHECK(rows["svd-a"]["key_rank"] == "16");
  CHECK(rows["full"]["key_rank"].empty());  // 0 = not used by the method
  CHECK(rows["chunked"]["run"] == "chunked");

  const std::string md = read(s.dir / "rep/report.md");
  CHECK(contains(md, "**Recommended:** `svd/svd-a`"));
  CHECK(contains(md, "| svd | svd-b |"));
  CHECK(contains(md, "ppl-vs-kv-bytes.svg"));
  CHECK(fs::exists(s.dir / "rep/ppl-vs-kv-bytes.gp"));
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    const std::string svg = read(s.dir / "rep/ppl-vs-kv-bytes.svg");
    CHECK(contains(svg, "<svg"));
    CHECK(contains(svg, "Pareto front"));
  } else {
    CHECK(contains(md, "not rendered"));
  }

  // Tighter budget: svd-a (+3%) is out; chunked (+2%, 2x) is the only one meeting both.
  const CliResult r2 = kvsvd({"report", "runs", "--out", "rep2", "--max-quality-loss", "0.025",
                              "--no-plots"},
                             s.dir);
  INFO(r2.out);
  REQUIRE(r2.rc == 0);
  CHECK(by_label(s.dir / "rep2/table.csv")["chunked"]["recommended"] == "1");
  CHECK(!fs::exists(s.dir / "rep2/ppl-vs-kv-bytes.gp"));

  // Ties in bytes go to the lower perplexity.
  write_summary(s.dir / "runs/tie", {{"svd-a-twin", "svd", 400, 10.25}});
  const CliResult r3 = kvsvd({"report", "runs", "--out", "rep3", "--no-plots"}, s.dir);
  REQUIRE(r3.rc == 0);
  auto rows3 = by_label(s.dir / "rep3/table.csv");
  CHECK(rows3["svd-a-twin"]["recommended"] == "1");
  CHECK(rows3["svd-a"]["recommended"] == "0");
  CHECK(rows3["svd-a"]["pareto"] == "0");  // same bytes, higher perplexity: dominated
}

TEST_CASE("report: the full baseline every run measured is shown once") {
  Scratch s("baseline-once");
  write_summary(s.dir / "runs/a", {{"full", "full", 1000, 10.0}, {"svd-a", "svd", 400, 10.3}});
  write_summary(s.dir / "runs/b", {{"full", "full", 1000, 10.0}, {"chunked", "chunked", 500, 10.2}});
  const CliResult r = kvsvd({"report", "runs", "--out", "rep", "--no-plots"}, s.dir);
  INFO(r.out);
  REQUIRE(r.rc == 0);
  CHECK(contains(r.out, "1 repeated full baseline row(s) shown once"));
  std::ifstream csv(s.dir / "rep/table.csv");
  std::string line;
  int full_rows = 0, lines = 0;
  while (std::getline(csv, line)) {
    ++lines;
    if (line.find("full/full") != std::string::npos || line.find(",full,") != std::string::npos)
      ++full_rows;
  }
  CHECK(lines == 4);  // header + full + svd-a + chunked
  CHECK(full_rows == 1);
}

TEST_CASE("report: none meets both, with the closest candidates") {
  Scratch s("none");
  write_runs(s.dir);
  const CliResult r = kvsvd({"report", "runs", "--out", "rep", "--target-memory-reduction", "3",
                             "--max-quality-loss", "0.05", "--no-plots"},
                            s.dir);
  INFO(r.out);
  REQUIRE(r.rc == 0);
  CHECK(contains(r.out, "none meets both"));
  for (const auto& row : read_csv(s.dir / "rep/table.csv")) CHECK(row.at("recommended") == "0");
  const std::string md = read(s.dir / "rep/report.md");
  CHECK(contains(md, "**None meets both**"));
  // Memory target met (>= 3x) only by svd-b; quality budget (<= 5%) with most memory saved: svd-a.
  CHECK(contains(md, "meets the memory target, least quality loss: `svd/svd-b`"));
  CHECK(contains(md, "within the quality budget, most memory saved: `svd/svd-a`"));

  // Nothing meets either: the Pareto front is listed.
  const CliResult r2 = kvsvd({"report", "runs", "--out", "rep2", "--target-memory-reduction", "10",
                              "--max-quality-loss", "0", "--no-plots"},
                             s.dir);
  REQUIRE(r2.rc == 0);
  const std::string md2 = read(s.dir / "rep2/report.md");
  // full (+0%) meets a zero budget, so the quality candidate is full; the memory one is absent.
  CHECK(contains(md2, "no configuration meets the memory target"));
  CHECK(contains(md2, "within the quality budget, most memory saved: `full/full`"));
}

TEST_CASE("report: missing or invalid summary.json is an error naming the file and key") {
  Scratch s("invalid");
  write_runs(s.dir);
  // A run folder without its summary.
  fs::create_directories(s.dir / "runs/unfinished");
  CliResult r = kvsvd({"report", "runs", "--out", "rep"}, s.dir);
  CHECK(r.rc != 0);
  CHECK(contains(r.out, "runs/unfinished/summary.json"));
  remove_dir(s.dir / "runs/unfinished");

  // A result without perplexity.
  auto doc = read_json(s.dir / "runs/svd/summary.json");
  doc["results"][1].erase("perplexity");
  write(s.dir / "runs/svd/summary.json", doc.dump());
  r = kvsvd({"report", "runs/svd", "--out", "rep"}, s.dir);
  INFO(r.out);
  CHECK(r.rc != 0);
  CHECK(contains(r.out, "runs/svd/summary.json"));
  CHECK(contains(r.out, "results[1]"));
  CHECK(contains(r.out, "perplexity"));

  // Wrong schema, malformed JSON, a missing input.
  write(s.dir / "runs/svd/summary.json", "{\"schema\": \"other\", \"schema_version\": 1}");
  r = kvsvd({"report", "runs/svd", "--out", "rep"}, s.dir);
  CHECK(r.rc != 0);
  CHECK(contains(r.out, "'schema'"));
  write(s.dir / "runs/svd/summary.json", "{\"schema\": ");
  r = kvsvd({"report", "runs/svd", "--out", "rep"}, s.dir);
  CHECK(r.rc != 0);
  CHECK(contains(r.out, "runs/svd/summary.json"));
  r = kvsvd({"report", "nowhere", "--out", "rep"}, s.dir);
  CHECK(r.rc != 0);
  CHECK(contains(r.out, "nowhere"));
  // A wrong type is not silently a default.
  write_summary(s.dir / "runs/svd", {{"svd-a", "svd", 400, 10.3}});
  doc = read_json(s.dir / "runs/svd/summary.json");
  doc["results"][0]["kv_bytes_per_token"] = "many";
  write(s.dir / "runs/svd/summary.json", doc.dump());
  r = kvsvd({"report", "runs/svd", "--out", "rep"}, s.dir);
  CHECK(r.rc != 0);
  CHECK(contains(r.out, "kv_bytes_per_token"));
}
