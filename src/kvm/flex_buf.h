#pragma once
// Storage for the KVM structs that end in a flexible array (CpuidHeader/kvm_cpuid2,
// kvm_msrs, kvm_msr_list; see kvm_abi.h): a header followed by n entries, suitably aligned.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace amber::kvm {

template <class Header, class Entry>
class FlexBuf {
 public:
  explicit FlexBuf(size_t n = 0) : words_((sizeof(Header) + n * sizeof(Entry) + 7) / 8 + 1), n_(n) {}

  Header* get() noexcept { return reinterpret_cast<Header*>(words_.data()); }
  const Header* get() const noexcept { return reinterpret_cast<const Header*>(words_.data()); }
  Entry* entries() noexcept { return reinterpret_cast<Entry*>(bytes_ptr() + sizeof(Header)); }
  const Entry* entries() const noexcept {
    return reinterpret_cast<const Entry*>(reinterpret_cast<const uint8_t*>(words_.data()) + sizeof(Header));
  }
  std::span<Entry> span() noexcept { return {entries(), n_}; }
  std::span<const Entry> span() const noexcept { return {entries(), n_}; }
  size_t capacity() const noexcept { return n_; }
  size_t byte_size() const noexcept { return sizeof(Header) + n_ * sizeof(Entry); }
  uint8_t* bytes_ptr() noexcept { return reinterpret_cast<uint8_t*>(words_.data()); }

  // Copies min(capacity, e.size()) entries from the front.
  void assign(std::span<const Entry> e) noexcept {
    size_t n = e.size() < n_ ? e.size() : n_;
    if (n) std::memcpy(static_cast<void*>(entries()), e.data(), n * sizeof(Entry));
  }

  std::vector<uint8_t> to_bytes() const {
    auto* p = reinterpret_cast<const uint8_t*>(words_.data());
    return std::vector<uint8_t>(p, p + byte_size());
  }

 private:
  std::vector<uint64_t> words_;
  size_t n_;
};

}  // namespace amber::kvm
