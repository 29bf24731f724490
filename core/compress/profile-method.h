// Names of the basis methods and key spaces: one table each, read by parsers, help text and the store.
#pragma once
#include <string>
#include <vector>

namespace kvsvd {

// How the per-head bases are found.
enum class ProfileMethod {
  WeightSvd,      // left singular vectors of each head's W_K / W_V block (no data needed)
  ActivationPca,  // eigenvectors of the K / V second moments on calibration text
  OutputAware,    // activation_pca keys; values minimising E‖W_O,g (v − v̂)‖² (needs fused W_O)
};

// Which keys the key basis describes.
enum class KeySpace {
  PreRope,   // keys before RoPE (cache stores P_Kᵀ k, RoPE after reconstruction)
  PostRope,  // keys after RoPE (scores computed in the reduced space)
};

struct NamedChoice {
  const char* name;
  const char* help;
};

// The tables themselves (order = enum order).
const std::vector<NamedChoice>& profile_method_table();
const std::vector<NamedChoice>& key_space_table();

const char* profile_method_name(ProfileMethod m);
const char* key_space_name(KeySpace k);
// Unknown names are errors that name `flag` and list the valid choices.
ProfileMethod parse_profile_method(const std::string& s, const std::string& flag = "--method");
KeySpace parse_key_space(const std::string& s, const std::string& flag = "--key-space");
// "weight_svd|activation_pca" and a one-line description per choice, for --help.
std::string profile_method_choices();
std::string key_space_choices();
std::string profile_method_help();
std::string key_space_help();

}  // namespace kvsvd
