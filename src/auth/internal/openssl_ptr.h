// OpenSSL objects owned by std::unique_ptr, freed by the library's own free
// function: OsslPtr<BIO, BIO_free> — one deleter template for every type
// instead of a functor struct per type and file.
//
// Usage:
//   OsslPtr<BIO, BIO_free> bio(BIO_new(BIO_s_mem()));
#pragma once

#include <memory>

namespace ds::auth::internal {

template <auto Free>
struct OsslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

template <typename T, auto Free>
using OsslPtr = std::unique_ptr<T, OsslDeleter<Free>>;

}  // namespace ds::auth::internal
