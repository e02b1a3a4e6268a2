// Handler tables: every instantiation of a handler template, in one constexpr array per family.
//
// A family is a handler template and the values each of its template parameters may take:
//
//   inline constexpr auto kAluRmReg = make_handlers<Dim<1u, 2u, 4u>, Dim<A_ADD, ..., A_TEST>>(
//       []<unsigned S, unsigned OP>() { return &alu_rmreg<S, OP>; });
//
// The table holds &alu_rmreg<S, OP> for every (S, OP) in row-major order, and selectors pick
// from it at decode time (`kAluRmReg.get(size, op)`): a handler the decoder can produce is in
// a table by construction. The registry (interp/sem/registry.h) lists the tables; it is built
// into the host and, by clang, into the translator's bitcode, so a handler pointer in an Insn
// names the same function in both (translator/ maps one to the other by family and index).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>

#include "interp/insn.h"

namespace softcpu {

// The values one template parameter takes (integers, bools or enumerators).
template <auto... Vs>
struct Dim {
  static constexpr size_t size = sizeof...(Vs);
  template <size_t I>
  static constexpr auto at = std::get<I>(std::tuple{Vs...});
  // Position of a runtime value in the list, or size if absent.
  template <typename A>
  static constexpr size_t index_of(A v) {
    size_t k = 0, found = size;
    ((found = (found == size && static_cast<long long>(Vs) == static_cast<long long>(v)) ? k : found,
      ++k),
     ...);
    return found;
  }
};

template <typename... Dims>
struct HandlerTable {
  static constexpr size_t count = (Dims::size * ... * size_t{1});
  std::array<Handler, count> fns{};

  // The handler for runtime parameter values, in the order of the Dims; nullptr if a value is
  // outside its Dim (a selector bug: decode turns it into #UD).
  template <typename... A>
  constexpr Handler get(A... a) const {
    static_assert(sizeof...(A) == sizeof...(Dims), "one value per dimension");
    size_t index = 0;
    bool ok = true;
    ((index = index * Dims::size + pick<Dims>(a, ok)), ...);
    return ok ? fns[index] : nullptr;
  }

 private:
  template <typename D, typename A>
  static constexpr size_t pick(A v, bool& ok) {
    const size_t k = D::index_of(v);
    if (k == D::size) {
      ok = false;
      return 0;
    }
    return k;
  }
};

namespace detail {

template <typename... Dims>
struct Strides {
  static constexpr std::array<size_t, sizeof...(Dims)> sizes{Dims::size...};
  static constexpr size_t stride(size_t j) {
    size_t s = 1;
    for (size_t k = j + 1; k < sizeof...(Dims); ++k) s *= sizes[k];
    return s;
  }
};

template <size_t I, typename F, typename... Dims, size_t... J>
constexpr Handler instantiate(const F& f, std::index_sequence<J...>) {
  using Tuple = std::tuple<Dims...>;
  using S = Strides<Dims...>;
  return f.template operator()<std::tuple_element_t<J, Tuple>::template at<
      (I / S::stride(J)) % std::tuple_element_t<J, Tuple>::size>...>();
}

template <typename... Dims, typename F, size_t... I>
constexpr HandlerTable<Dims...> fill(const F& f, std::index_sequence<I...>) {
  HandlerTable<Dims...> t{};
  ((t.fns[I] = instantiate<I, F, Dims...>(f, std::index_sequence_for<Dims...>{})), ...);
  return t;
}

}  // namespace detail

// The table of f.operator()<v0, v1, ...>() for every combination of the Dims' values.
template <typename... Dims, typename F>
consteval HandlerTable<Dims...> make_handlers(F f) {
  return detail::fill<Dims...>(f, std::make_index_sequence<HandlerTable<Dims...>::count>{});
}

// A family of one handler (no template parameters).
template <Handler F>
inline constexpr HandlerTable<> kSingle = [] {
  HandlerTable<> t{};
  t.fns[0] = F;
  return t;
}();

// An entry of the registry: a family's name and its handlers.
struct HandlerFamily {
  const char* name;
  const Handler* fns;
  uint32_t count;
};

}  // namespace softcpu
