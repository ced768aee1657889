#pragma once
// Device and machine state as a tree of named binary properties.
//
// Each state struct lists its fields once in a static describe(ar, self)
// template; that one list drives save, load, printing and (with a defaulted
// operator==) comparison. A StateNode maps 1:1 onto a flattened-device-tree
// node in the image file (docs/image-format.md): properties are
// little-endian scalars or byte strings, children are sub-structs.
//
// Compatibility rules: a property missing on load keeps the field's default
// (fields may be added in a minor version); a property of the wrong size or
// a byte string above its cap is an Error (corrupt or hostile image).
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber {

struct StateNode {
  std::map<std::string, std::vector<uint8_t>, std::less<>> props;
  std::map<std::string, StateNode, std::less<>> children;

  bool operator==(const StateNode&) const = default;

  const std::vector<uint8_t>* prop(std::string_view name) const {
    auto it = props.find(name);
    return it == props.end() ? nullptr : &it->second;
  }
  const StateNode* child(std::string_view name) const {
    auto it = children.find(name);
    return it == children.end() ? nullptr : &it->second;
  }
  // The child that must exist on restore; Error naming `what` otherwise.
  const StateNode& require_child(std::string_view name) const {
    auto* c = child(name);
    if (!c) throw Error(fmt::format("image: missing state node '{}'", name));
    return *c;
  }
  const std::vector<uint8_t>& require_prop(std::string_view name) const {
    auto* p = prop(name);
    if (!p) throw Error(fmt::format("image: missing state property '{}'", name));
    return *p;
  }
};

namespace state_detail {
template <class T>
concept Scalar = std::is_integral_v<T> || std::is_enum_v<T>;
template <class T>
struct is_byte_array : std::false_type {};
template <size_t N>
struct is_byte_array<std::array<uint8_t, N>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class U, class A>
struct is_vector<std::vector<U, A>> : std::true_type {};
// std::vector of sub-structs (stored as child nodes, not a byte string).
template <class T>
struct is_struct_vector : std::false_type {};
template <class U, class A>
struct is_struct_vector<std::vector<U, A>> : std::bool_constant<!std::is_integral_v<U> && !std::is_enum_v<U>> {};

inline void put_le(std::vector<uint8_t>& out, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline uint64_t get_le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}
}  // namespace state_detail

// Writes fields into a StateNode.
class StateSaver {
 public:
  explicit StateSaver(StateNode& node) : node_(node) {}

  template <class T>
  StateSaver& operator()(const char* name, const T& v, size_t /*max*/ = 0) {
    using namespace state_detail;
    if constexpr (std::is_same_v<T, bool>) {
      node_.props[name] = {uint8_t(v ? 1 : 0)};
    } else if constexpr (Scalar<T>) {
      std::vector<uint8_t> b;
      put_le(b, static_cast<uint64_t>(v), sizeof(T));
      node_.props[name] = std::move(b);
    } else if constexpr (is_byte_array<T>::value) {
      node_.props[name] = std::vector<uint8_t>(v.begin(), v.end());
    } else if constexpr (std::is_same_v<T, std::string>) {
      node_.props[name] = std::vector<uint8_t>(v.begin(), v.end());
    } else if constexpr (is_vector<T>::value) {
      using E = typename T::value_type;
      if constexpr (Scalar<E>) {
        std::vector<uint8_t> b;
        b.reserve(v.size() * sizeof(E));
        for (auto e : v) put_le(b, static_cast<uint64_t>(e), sizeof(E));
        node_.props[name] = std::move(b);
      } else {
        // A list of sub-structs: children "name@0", "name@1", ... plus a count.
        std::vector<uint8_t> b;
        put_le(b, v.size(), 4);
        node_.props[std::string(name) + "#count"] = std::move(b);
        for (size_t i = 0; i < v.size(); ++i) {
          StateSaver sub(node_.children[fmt::format("{}@{}", name, i)]);
          E::describe(sub, v[i]);
        }
      }
    } else {
      StateSaver sub(node_.children[name]);
      T::describe(sub, v);
    }
    return *this;
  }

 private:
  StateNode& node_;
};

// Reads fields from a StateNode, validating sizes and caps.
class StateLoader {
 public:
  explicit StateLoader(const StateNode& node, std::string path = "") : node_(node), path_(std::move(path)) {}

  template <class T>
  StateLoader& operator()(const char* name, T& v, size_t max = 0) {
    using namespace state_detail;
    if constexpr (is_struct_vector<T>::value) {
      using E = typename T::value_type;
      auto* cnt = node_.prop(std::string(name) + "#count");
      if (!cnt) return *this;
      if (cnt->size() != 4) bad(name, "count has wrong size");
      uint64_t n = get_le(cnt->data(), 4);
      if (max && n > max) bad(name, fmt::format("{} entries exceed the cap of {}", n, max));
      v.clear();
      for (uint64_t i = 0; i < n; ++i) {
        auto child_name = fmt::format("{}@{}", name, i);
        auto* c = node_.child(child_name);
        if (!c) bad(child_name, "missing");
        E e{};
        StateLoader sub(*c, path_ + "/" + child_name);
        E::describe(sub, e);
        v.push_back(std::move(e));
      }
      return *this;
    } else if constexpr (!Scalar<T> && !std::is_same_v<T, bool> && !is_byte_array<T>::value &&
                         !std::is_same_v<T, std::string> && !is_vector<T>::value) {
      auto* c = node_.child(name);
      if (!c) return *this;
      StateLoader sub(*c, path_ + "/" + name);
      T::describe(sub, v);
      return *this;
    } else {
      auto* p = node_.prop(name);
      if (!p) return *this;  // absent: keep the default (older image)
      if constexpr (std::is_same_v<T, bool>) {
        if (p->size() != 1 || (*p)[0] > 1) bad(name, "not a boolean");
        v = (*p)[0] == 1;
      } else if constexpr (Scalar<T>) {
        if (p->size() != sizeof(T)) bad(name, fmt::format("size {} != {}", p->size(), sizeof(T)));
        v = static_cast<T>(get_le(p->data(), sizeof(T)));
      } else if constexpr (is_byte_array<T>::value) {
        if (p->size() != v.size()) bad(name, fmt::format("size {} != {}", p->size(), v.size()));
        std::memcpy(v.data(), p->data(), v.size());
      } else if constexpr (std::is_same_v<T, std::string>) {
        if (max && p->size() > max) bad(name, "too long");
        v.assign(p->begin(), p->end());
      } else {
        using E = typename T::value_type;
        if (p->size() % sizeof(E)) bad(name, "size is not a multiple of the element size");
        size_t n = p->size() / sizeof(E);
        if (max && n > max) bad(name, fmt::format("{} entries exceed the cap of {}", n, max));
        v.resize(n);
        for (size_t i = 0; i < n; ++i) v[i] = static_cast<E>(get_le(p->data() + i * sizeof(E), sizeof(E)));
      }
      return *this;
    }
  }

 private:
  [[noreturn]] void bad(std::string_view name, std::string_view why) const {
    throw Error(fmt::format("image: state property '{}/{}' is invalid: {}", path_, name, why));
  }
  const StateNode& node_;
  std::string path_;
};

// Convenience: a describable struct to/from a node.
template <class T>
StateNode save_state(const T& s) {
  StateNode n;
  StateSaver ar(n);
  T::describe(ar, s);
  return n;
}
template <class T>
T load_state(const StateNode& n, std::string_view path = "") {
  T s{};
  StateLoader ar(n, std::string(path));
  T::describe(ar, s);
  return s;
}

// Human-readable dump ("name = value" lines), for `amber inspect` and tests.
std::string format_state(const StateNode& node, int indent = 0);

}  // namespace amber
