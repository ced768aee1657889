#pragma once
// Raw KVM structs as StateNode properties. The KVM x86 structs are a stable
// ABI (api.rst: structures are only ever extended through flags/padding), so
// a property holds the struct's bytes as the ioctl returned them. An image is
// untrusted: every property's size is checked before it reaches an ioctl.
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/state.h"
#include "kvm/flex_buf.h"

namespace amber::kvm {

template <class T>
void put_struct(StateNode& n, std::string_view name, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  auto* p = reinterpret_cast<const uint8_t*>(&v);
  n.props[std::string(name)] = std::vector<uint8_t>(p, p + sizeof(T));
}

[[noreturn]] inline void bad_prop(std::string_view node, std::string_view name, std::string_view why) {
  throw Error(fmt::format("image: {} state property '{}' is invalid: {}", node, name, why));
}

// The property as a T; Error naming it when missing or of the wrong size.
template <class T>
T get_struct(const StateNode& n, std::string_view node, std::string_view name) {
  static_assert(std::is_trivially_copyable_v<T>);
  auto* p = n.prop(name);
  if (!p) bad_prop(node, name, "missing");
  if (p->size() != sizeof(T)) bad_prop(node, name, fmt::format("size {} != {}", p->size(), sizeof(T)));
  T v;
  std::memcpy(&v, p->data(), sizeof(T));
  return v;
}

// A header + count * Entry property (kvm_msrs, kvm_cpuid2). The count field
// (`count_of(header)`) must agree with the property size and be <= cap.
template <class Header, class Entry, class CountOf>
FlexBuf<Header, Entry> get_flex(const StateNode& n, std::string_view node, std::string_view name, size_t cap,
                                CountOf count_of) {
  auto* p = n.prop(name);
  if (!p) bad_prop(node, name, "missing");
  if (p->size() < sizeof(Header) || (p->size() - sizeof(Header)) % sizeof(Entry) != 0)
    bad_prop(node, name, fmt::format("size {} is not a header plus whole entries", p->size()));
  size_t entries = (p->size() - sizeof(Header)) / sizeof(Entry);
  if (entries > cap) bad_prop(node, name, fmt::format("{} entries exceed the cap of {}", entries, cap));
  FlexBuf<Header, Entry> buf(entries);
  std::memcpy(buf.bytes_ptr(), p->data(), p->size());
  if (count_of(*buf.get()) != entries)
    bad_prop(node, name, fmt::format("count {} disagrees with {} entries in the property", count_of(*buf.get()), entries));
  return buf;
}

}  // namespace amber::kvm
