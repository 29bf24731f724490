// `kvsvd tokenize`: text -> token ids with a Hugging Face tokenizer.json.
#pragma once
namespace CLI {
class App;
}
namespace kvsvd {
void register_tokenize_command(CLI::App& app);
}
