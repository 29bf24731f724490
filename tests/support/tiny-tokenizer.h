// Writes small hand-made tokenizer.json files (byte-level BPE) into a fresh temporary folder.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>
#include "support/temp-dir.h"

namespace kvsvd::test {

// Vocabulary in byte-level spelling ("Ġ" is the space byte). Merges, by rank:
//   h e, l l, he ll, hell o, Ġ w, o r, Ġw or, l d, Ġwor ld, l o
// so "hello world" -> [hello, Ġworld] = [11, 16]. "wd" (18) is a token no merge produces.
// "ä" (0xE4), "Ã" (0xC3) and "©" (0xA9) stand for single bytes of multi-byte UTF-8.
inline nlohmann::json tiny_tokenizer(bool pair_merges = false, bool ignore_merges = false) {
  nlohmann::json vocab = {{"h", 0},     {"e", 1},      {"l", 2},      {"o", 3},     {"Ġ", 4},
                          {"w", 5},     {"r", 6},      {"d", 7},      {"he", 8},    {"ll", 9},
                          {"hell", 10}, {"hello", 11}, {"Ġw", 12},    {"or", 13},   {"Ġwor", 14},
                          {"ld", 15},   {"Ġworld", 16}, {"lo", 17},   {"wd", 18},   {"ä", 22},
                          {"Ã", 23},    {"©", 24}};
  const char* merges[][2] = {{"h", "e"},  {"l", "l"},  {"he", "ll"}, {"hell", "o"},  {"Ġ", "w"},
                             {"o", "r"},  {"Ġw", "or"}, {"l", "d"},  {"Ġwor", "ld"}, {"l", "o"}};
  nlohmann::json m = nlohmann::json::array();
  for (const auto& p : merges) {
    if (pair_merges) m.push_back({p[0], p[1]});
    else m.push_back(std::string(p[0]) + " " + p[1]);
  }
  nlohmann::json added = nlohmann::json::array();
  added.push_back({{"id", 19}, {"content", "<a>"}, {"special", true}, {"lstrip", false},
                   {"rstrip", false}, {"single_word", false}, {"normalized", false}});
  added.push_back({{"id", 20}, {"content", "<a>b"}, {"special", false}, {"lstrip", false},
                   {"rstrip", false}, {"single_word", false}, {"normalized", false}});
  added.push_back({{"id", 21}, {"content", "<m>"}, {"special", true}, {"lstrip", true},
                   {"rstrip", true}, {"single_word", false}, {"normalized", false}});
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
            {"use_regex", true}}},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}},
          {"model",
           {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
            {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", ignore_merges},
            {"vocab", vocab}, {"merges", m}}}};
}

}  // namespace kvsvd::test
