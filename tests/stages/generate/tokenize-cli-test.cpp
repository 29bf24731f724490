// `kvsvd tokenize` end to end: ids as JSON, --add-bos, --bench, exit codes and messages.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "support/catch.h"
#include "support/tiny-tokenizer.h"

using kvsvd::test::TempDir;

namespace {

struct Run {
  int code;
  std::string out;  // stdout and stderr together
};

Run run(const std::string& args) {
  const std::string cmd = std::string(KVSVD_BINARY) + " tokenize " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

TEST_CASE("kvsvd tokenize: ids, BOS, bench and errors on a tiny tokenizer") {
  struct stat st {};
  INFO("binary " << KVSVD_BINARY << " (build the kvsvd target)");
  REQUIRE(stat(KVSVD_BINARY, &st) == 0);
  TempDir dir;
  const std::string tok = dir.write("tokenizer.json", kvsvd::test::tiny_tokenizer().dump());
  dir.write("tokenizer_config.json", R"({"bos_token": "<a>"})");
  const std::string flags = "--tokenizer " + tok;

  Run r = run(flags + " --text 'hello world'");
  CHECK(r.code == 0);
  CHECK(nlohmann::json::parse(r.out) == nlohmann::json({11, 16}));

  r = run(flags + " --text 'hello world' --add-bos");
  CHECK(r.code == 0);
  CHECK(nlohmann::json::parse(r.out) == nlohmann::json({19, 11, 16}));

  const std::string text = dir.write("text.txt", "hello world<a>hello");
  r = run(flags + " --file " + text);
  CHECK(r.code == 0);
  CHECK(nlohmann::json::parse(r.out) == nlohmann::json({11, 16, 19, 11}));

  r = run(flags + " --file " + text + " --bench --passes 2");
  REQUIRE(r.code == 0);
  const auto bench = nlohmann::json::parse(r.out);
  CHECK(bench.at("bytes") == 19);
  CHECK(bench.at("tokens") == 4);
  CHECK(bench.at("passes").size() == 2);
  CHECK(bench.at("best_mb_per_s").get<double>() > 0.0);

  const std::string bad = dir.write("bad.txt", "hello\xFFworld");
  r = run(flags + " --file " + bad);
  CHECK(r.code == 2);
  CHECK(r.out.find("byte offset 5") != std::string::npos);

  r = run(flags + " --text a --file " + text);
  CHECK(r.code == 2);
  CHECK(r.out.find("exactly one of --text and --file") != std::string::npos);

  r = run("--tokenizer " + dir.write("nope.json", "{\"model\": {\"type\": \"Unigram\"}}") +
          " --text a");
  CHECK(r.code == 2);
  CHECK(r.out.find("Unigram") != std::string::npos);
}
