#include "core/tokenizer/tokenizer.h"

#include <sys/stat.h>

#include <cstdint>

#include "core/tokenizer/added-tokens.h"
#include "core/tokenizer/bpe-model.h"
#include "core/tokenizer/byte-level.h"
#include "core/tokenizer/regex-split.h"
#include "core/util/utf8.h"
#include "core/util/error.h"
#include "core/util/json-util.h"

namespace kvsvd {

namespace {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string dir_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// bos_token / eos_token in tokenizer_config.json: a string, or an AddedToken object.
std::string config_token(const nlohmann::json& cfg, const std::string& key,
                         const std::string& source) {
  if (!json_has(cfg, key)) return "";
  const auto& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  KVSVD_CHECK(v.is_object() && v.contains("content") && v["content"].is_string(), source, ": '",
              key, "' must be a string or an object with a string 'content'");
  return v["content"].get<std::string>();
}

}  // namespace

// One step of pre-tokenization, applied to every piece the previous step produced.
struct PreStep {
  std::unique_ptr<RegexSplitter> regex;  // Split / ByteLevel(use_regex): cut the piece
  bool prefix_space = false;             // ByteLevel(add_prefix_space): prepend ' ' if missing
};

struct Tokenizer::Impl {
  std::string path;
  std::unique_ptr<BpeModel> model;
  AddedTokens added;
  std::vector<PreStep> steps;
  std::vector<std::string> id_bytes;  // id -> the bytes it decodes to
  std::vector<uint8_t> id_kind;       // 0: unused id, 1: ordinary token, 2: special token
  int32_t bos = -1, eos = -1;
  bool add_bos_default = false;

  void parse_pre_tokenizer(const nlohmann::json& pt);
  void add_byte_level(const nlohmann::json& bl, const std::string& where);
  void run_steps(std::string_view piece, size_t step, std::vector<int32_t>& out) const;
  int32_t lookup(const std::string& token) const;
};

void Tokenizer::Impl::add_byte_level(const nlohmann::json& bl, const std::string& where) {
  if (bl.value("add_prefix_space", false)) steps.push_back({nullptr, true});
  if (bl.value("use_regex", true))
    steps.push_back({std::make_unique<RegexSplitter>(kGpt2Pattern, where), false});
}

void Tokenizer::Impl::parse_pre_tokenizer(const nlohmann::json& pt) {
  const std::string supported =
      "supported: ByteLevel, or Sequence of Split(Regex, Isolated) steps ending in ByteLevel";
  KVSVD_CHECK(pt.is_object(), path, ": 'pre_tokenizer' is missing or null; ", supported);
  const std::string type = pt.value("type", std::string());
  if (type == "ByteLevel") {
    add_byte_level(pt, path + ": pre_tokenizer");
    return;
  }
  KVSVD_CHECK(type == "Sequence", path, ": pre_tokenizer type '", type, "' is not supported; ",
              supported);
  KVSVD_CHECK(pt.contains("pretokenizers") && pt["pretokenizers"].is_array(), path,
              ": pre_tokenizer.pretokenizers must be an array");
  const auto& list = pt["pretokenizers"];
  bool byte_level = false;
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& p = list[i];
    const std::string where = cat(path, ": pre_tokenizer.pretokenizers[", i, "]");
    const std::string ptype = p.is_object() ? p.value("type", std::string()) : std::string();
    // ByteLevel maps bytes to other characters, so a regex after it would see different text:
    // only Split steps before a final ByteLevel have Llama-3's meaning.
    KVSVD_CHECK(!byte_level, where, ": pre-tokenizer type '", ptype,
                "' after ByteLevel is not supported; ", supported);
    if (ptype == "ByteLevel") {
      add_byte_level(p, where);
      byte_level = true;
      continue;
    }
    KVSVD_CHECK(ptype == "Split", where, ": pre-tokenizer type '", ptype, "' is not supported; ",
                supported);
    const std::string behavior = p.value("behavior", std::string());
    KVSVD_CHECK(behavior == "Isolated", where, ": Split behavior '", behavior,
                "' is not supported (only Isolated)");
    KVSVD_CHECK(!p.value("invert", false), where, ": Split with invert = true is not supported");
    KVSVD_CHECK(p.contains("pattern") && p["pattern"].is_object() &&
                    p["pattern"].contains("Regex") && p["pattern"]["Regex"].is_string(),
                where, ": Split pattern must be {\"Regex\": \"...\"}");
    steps.push_back({std::make_unique<RegexSplitter>(p["pattern"]["Regex"].get<std::string>(),
                                                     where + ".pattern"),
                     false});
  }
  KVSVD_CHECK(byte_level, path, ": pre_tokenizer Sequence has no ByteLevel step; ", supported);
}

int32_t Tokenizer::Impl::lookup(const std::string& token) const {
  for (const AddedToken& t : added.tokens())
    if (t.content == token) return t.id;
  return model->token_id(token);
}

void Tokenizer::Impl::run_steps(std::string_view piece, size_t step,
                                std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (step == steps.size()) {
    model->encode_word(piece, out);
    return;
  }
  const PreStep& s = steps[step];
  if (s.prefix_space) {
    if (piece[0] == ' ') {
      run_steps(piece, step + 1, out);
    } else {
      const std::string spaced = " " + std::string(piece);
      run_steps(spaced, step + 1, out);
    }
    return;
  }
  std::vector<std::string_view> pieces;
  s.regex->split(piece, pieces);
  if (step + 1 == steps.size()) {
    for (std::string_view p : pieces) model->encode_word(p, out);
  } else {
    for (std::string_view p : pieces) run_steps(p, step + 1, out);
  }
}

namespace {

// The id tables (id -> token, id -> bytes) are sized by the largest id, so one id of 2^31 - 1
// in a small file would allocate ~100 GB. Every id needs at least a few bytes of JSON, so a file
// of N bytes cannot describe more than N tokens: ids at or past N are a corrupt (or hostile)
// file, refused before anything is sized by them.
void check_id_range(const nlohmann::json& doc, size_t file_bytes, const std::string& path) {
  const int64_t limit = static_cast<int64_t>(file_bytes);
  auto check = [&](const nlohmann::json& id, const std::string& what) {
    if (!id.is_number_integer()) return;  // the parsers name the wrong type
    const int64_t v = id.is_number_unsigned() && id.get<uint64_t>() > uint64_t(INT64_MAX)
                          ? INT64_MAX
                          : id.get<int64_t>();
    KVSVD_CHECK(v < limit, path, ": ", what, " has id ", id.dump(), ", more tokens than a file of ",
                file_bytes, " bytes can describe (corrupt tokenizer.json?)");
  };
  const nlohmann::json& model = doc["model"];
  if (model.is_object() && model.contains("vocab") && model["vocab"].is_object()) {
    const nlohmann::json& vocab = model["vocab"];
    for (auto it = vocab.begin(); it != vocab.end(); ++it)
      check(it.value(), cat("model.vocab['", it.key(), "']"));
  }
  if (doc.contains("added_tokens") && doc["added_tokens"].is_array()) {
    const nlohmann::json& added = doc["added_tokens"];
    for (size_t i = 0; i < added.size(); ++i)
      if (added[i].is_object() && added[i].contains("id"))
        check(added[i]["id"], cat("added_tokens[", i, "]"));
  }
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

// A function-try-block: a member of the wrong JSON type anywhere below (e.g. "decoder": 5, which
// makes .value() throw) becomes an error naming the file instead of a bare nlohmann exception.
Tokenizer Tokenizer::from_file(const std::string& path) try {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  const std::string text = read_text_file(path);
  const nlohmann::json doc = parse_json(text, path);
  KVSVD_CHECK(doc.is_object(), path, ": a tokenizer.json must be a JSON object");
  KVSVD_CHECK(doc.contains("model"), path, ": missing 'model'");
  check_id_range(doc, text.size(), path);
  // Normalizers rewrite the text before splitting; byte-level Llama tokenizers have none, and
  // supporting one partially would tokenize differently from Hugging Face without a sign.
  if (doc.contains("normalizer") && !doc["normalizer"].is_null())
    fail(cat(path, ": normalizer type '", doc["normalizer"].value("type", std::string("?")),
             "' is not supported (only null)"));
  if (doc.contains("decoder") && !doc["decoder"].is_null()) {
    const std::string dtype = doc["decoder"].value("type", std::string());
    KVSVD_CHECK(dtype == "ByteLevel", path, ": decoder type '", dtype,
                "' is not supported (only ByteLevel)");
  }
  impl->model = std::make_unique<BpeModel>(doc["model"], path);
  impl->added = AddedTokens(doc.contains("added_tokens") ? doc["added_tokens"] : nlohmann::json(),
                            path);
  impl->parse_pre_tokenizer(doc.contains("pre_tokenizer") ? doc["pre_tokenizer"] : nlohmann::json());

  // id -> bytes. The ByteLevel decoder maps each character of a token back to its byte; a token
  // with a character outside the byte alphabet (an added token such as "<|x y|>") decodes to its
  // own UTF-8, as Hugging Face's decoder does.
  const auto& vocab = impl->model->id_to_token();
  size_t size = vocab.size();
  for (const AddedToken& t : impl->added.tokens()) size = std::max(size, static_cast<size_t>(t.id) + 1);
  impl->id_bytes.assign(size, std::string());
  impl->id_kind.assign(size, 0);
  const ByteLevelMap& bl = ByteLevelMap::get();
  auto set_bytes = [&](int32_t id, const std::string& token, uint8_t kind) {
    if (!bl.token_to_bytes(token, impl->id_bytes[id])) impl->id_bytes[id] = token;
    impl->id_kind[id] = kind;
  };
  for (size_t id = 0; id < vocab.size(); ++id)
    if (!vocab[id].empty()) set_bytes(static_cast<int32_t>(id), vocab[id], 1);
  for (const AddedToken& t : impl->added.tokens()) set_bytes(t.id, t.content, t.special ? 2 : 1);

  // BOS / EOS: tokenizer_config.json beside the file first; else the special token the
  // TemplateProcessing post-processor puts in front of a single sequence.
  const std::string cfg_path = dir_of(path) + "/tokenizer_config.json";
  std::string bos_token, eos_token;
  bool has_add_bos = false;
  nlohmann::json cfg;
  if (file_exists(cfg_path)) {
    cfg = load_json_file(cfg_path);
    bos_token = config_token(cfg, "bos_token", cfg_path);
    eos_token = config_token(cfg, "eos_token", cfg_path);
    has_add_bos = json_has(cfg, "add_bos_token");
    if (has_add_bos) impl->add_bos_default = json_bool(cfg, "add_bos_token", cfg_path);
  }
  // A Sequence post-processor may hold the template among other processors.
  std::vector<nlohmann::json> procs;
  if (doc.contains("post_processor") && doc["post_processor"].is_object()) {
    const auto& pp = doc["post_processor"];
    if (pp.value("type", std::string()) == "Sequence" && pp.contains("processors") &&
        pp["processors"].is_array())
      for (const auto& p : pp["processors"]) procs.push_back(p);
    else
      procs.push_back(pp);
  }
  for (const auto& p : procs) {
    if (!p.is_object() || p.value("type", std::string()) != "TemplateProcessing") continue;
    if (!p.contains("single") || !p["single"].is_array() || p["single"].empty()) continue;
    const auto& first = p["single"][0];
    if (!first.is_object() || !first.contains("SpecialToken")) continue;
    const std::string name = first["SpecialToken"].value("id", std::string());
    if (bos_token.empty()) bos_token = name;
    if (!has_add_bos) impl->add_bos_default = true;
  }
  if (!bos_token.empty()) {
    impl->bos = impl->lookup(bos_token);
    KVSVD_CHECK(impl->bos >= 0, path, ": BOS token '", bos_token, "' is not in the vocabulary");
  }
  if (!eos_token.empty()) {
    impl->eos = impl->lookup(eos_token);
    KVSVD_CHECK(impl->eos >= 0, path, ": EOS token '", eos_token, "' is not in the vocabulary");
  }
  return Tokenizer(std::move(impl));
} catch (const nlohmann::json::exception& e) {
  fail(cat(path, ": unexpected structure in the tokenizer files: ", e.what()));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  const size_t bad = utf8::first_invalid(text);
  KVSVD_CHECK(bad == std::string_view::npos, "tokenizer input is not valid UTF-8 at byte offset ",
              bad);
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos) {
    KVSVD_CHECK(impl_->bos >= 0, impl_->path,
                ": add_bos was requested but the tokenizer defines no BOS token");
    out.push_back(impl_->bos);
  }
  // Added tokens cut the text first; only the pieces between them are pre-tokenized.
  size_t pos = 0;
  AddedTokens::Match m{};
  while (pos < text.size()) {
    if (!impl_->added.find(text, pos, m)) {
      impl_->run_steps(text.substr(pos), 0, out);
      break;
    }
    impl_->run_steps(text.substr(pos, m.start - pos), 0, out);
    out.push_back(m.id);
    pos = m.end;
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    KVSVD_CHECK(id >= 0 && static_cast<size_t>(id) < impl_->id_kind.size() && impl_->id_kind[id] != 0,
                "cannot decode id ", id, " (position ", i, "): not in the vocabulary of ",
                impl_->path);
    if (skip_special && impl_->id_kind[id] == 2) continue;
    bytes += impl_->id_bytes[id];
  }
  return utf8::decode_lossy(bytes);
}

int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
int64_t Tokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_kind.size()); }
bool Tokenizer::add_bos_by_default() const { return impl_->add_bos_default; }
int32_t Tokenizer::token_to_id(const std::string& token) const { return impl_->lookup(token); }

}  // namespace kvsvd
