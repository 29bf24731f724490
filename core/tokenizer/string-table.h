// Open-addressing hash table from byte strings to 32-bit values, looked up by string_view
// without allocating (std::unordered_map<std::string,...> would build a key per lookup on the
// hot path of encode). 16-byte slots keep the 128k-token vocabulary's table small enough to
// stay mostly in cache. Append-only; clear() drops everything.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace kvsvd {

class StringTable {
 public:
  explicit StringTable(size_t expected = 1024) { rehash(capacity_for(expected)); }

  // Pointer to the value for `key`, or nullptr.
  const uint32_t* find(std::string_view key) const { return find(key, hash(key)); }
  const uint32_t* find(std::string_view key, uint64_t h) const {
    const uint32_t t = tag(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.tag == 0) return nullptr;
      if (s.tag == t && s.len == key.size() && equal(arena_.data() + s.offset, key)) return &s.value;
    }
  }

  // Inserts or overwrites.
  void insert(std::string_view key, uint32_t value) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    const uint64_t h = hash(key);
    const uint32_t t = tag(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.tag == 0) {
        s = {t, value, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size())};
        arena_.append(key.data(), key.size());
        ++size_;
        return;
      }
      if (s.tag == t && s.len == key.size() && equal(arena_.data() + s.offset, key)) {
        s.value = value;
        return;
      }
    }
  }

  size_t size() const { return size_; }
  void clear() {
    arena_.clear();
    size_ = 0;
    rehash(capacity_for(1024));
  }

  // Multiply-mix over 8-byte words: fast on the short keys (pre-tokens) seen here.
  static uint64_t hash(std::string_view key) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ key.size();
    size_t i = 0;
    for (; i + 8 <= key.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, key.data() + i, 8);
      h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
      h ^= h >> 32;
    }
    uint64_t w = 0;
    std::memcpy(&w, key.data() + i, key.size() - i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 32;
    return h;
  }

 private:
  struct Slot {
    uint32_t tag;  // high hash bits, never 0 for a used slot
    uint32_t value;
    uint32_t offset;  // into arena_
    uint32_t len;
  };
  static uint32_t tag(uint64_t h) { return static_cast<uint32_t>(h >> 32) | 1u; }
  static bool equal(const char* a, std::string_view b) {
    // Pre-tokens are short: an inline loop beats a call to memcmp.
    for (size_t i = 0; i < b.size(); ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  static size_t capacity_for(size_t n) {
    size_t c = 16;
    while (c < n * 2) c *= 2;
    return c;
  }
  void rehash(size_t cap) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(cap, Slot{0, 0, 0, 0});
    mask_ = cap - 1;
    // Re-probing needs the full hash: recompute it from the stored key.
    for (const Slot& s : old) {
      if (s.tag == 0) continue;
      const uint64_t h = hash(std::string_view(arena_.data() + s.offset, s.len));
      for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        if (slots_[i].tag == 0) {
          slots_[i] = s;
          break;
        }
      }
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
  std::string arena_;
};

}  // namespace kvsvd
