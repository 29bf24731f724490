#include "stages/evaluate/evaluate-windows.h"

#include <filesystem>

#include "core/data/data-format.h"
#include "core/data/tokenize-documents.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"

namespace kvsvd {

std::vector<TokenIds> load_windows(const EvaluateOptions& o, const LlamaConfig& cfg) {
  const DataFormat fmt = effective_data_format(o.dataset_format, o.dataset);
  std::vector<TokenIds> docs;
  int32_t eos = cfg.eos_token_ids.empty() ? -1 : static_cast<int32_t>(cfg.eos_token_ids[0]);
  int32_t bos = static_cast<int32_t>(cfg.bos_token_id);
  if (fmt == DataFormat::Ids) {
    docs = read_token_id_json(o.dataset);
  } else {
#if KVSVD_HAVE_TOKENIZER
    const std::string tok_path =
        o.tokenizer.empty() ? (std::filesystem::path(o.model) / "tokenizer.json").string()
                            : o.tokenizer;
    const Tokenizer tok = Tokenizer::from_file(tok_path);
    const auto texts = read_text_documents(
        o.dataset, fmt == DataFormat::Jsonl ? TextFormat::Jsonl : TextFormat::Text, o.field);
    docs = tokenize_documents(
        texts, [&](const std::string& t) { return tok.encode(t, false); }, o.dataset);
    if (tok.eos_id() >= 0) eos = tok.eos_id();
    if (tok.bos_id() >= 0) bos = tok.bos_id();
#else
    fail(cat("--dataset-format ", data_format_name(fmt), ": this build has no tokenizer "
             "(KVSVD_WITH_TOKENIZER=OFF); give token ids (--dataset-format ids)"));
#endif
  }
  KVSVD_CHECK(!o.add_bos || bos >= 0, "--add-bos: neither the tokenizer nor ", o.model,
              "/config.json defines a BOS token");
  WindowSpec spec;
  spec.seq_len = o.seq_len;
  spec.stride = o.stride;
  spec.pack = o.pack;
  spec.max_windows = o.max_windows;
  spec.eos_id = eos;
  spec.bos_id = o.add_bos ? bos : -1;
  std::vector<TokenIds> windows = make_windows(docs, spec, o.dataset);
  KVSVD_CHECK(!windows.empty(), "--dataset ", o.dataset, ": no window of --seq-len ", o.seq_len,
              " tokens");
  for (size_t w = 0; w < windows.size(); ++w) {
    KVSVD_CHECK(windows[w].size() >= 2, "--dataset ", o.dataset, ": window ", w, " has ",
                windows[w].size(), " tokens (at least 2 are needed to score one)");
    for (size_t i = 0; i < windows[w].size(); ++i)
      KVSVD_CHECK(windows[w][i] >= 0 && windows[w][i] < cfg.vocab_size, "--dataset ", o.dataset,
                  ": window ", w, " token ", i, " is id ", windows[w][i],
                  ", outside the model's vocabulary [0, ", cfg.vocab_size, ")");
  }
  return windows;
}

}  // namespace kvsvd
