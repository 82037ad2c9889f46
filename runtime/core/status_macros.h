#pragma once

// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr, used across runtime/.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GRIDSERVE_CONCAT_INNER(a, b) a##b
#define GRIDSERVE_CONCAT(a, b) GRIDSERVE_CONCAT_INNER(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function if not OK.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::absl::Status gridserve_status_ = (expr);             \
    if (!gridserve_status_.ok()) return gridserve_status_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on error returns its
// status, otherwise moves the value into `lhs` (which may be a declaration: `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  GRIDSERVE_ASSIGN_OR_RETURN_IMPL(GRIDSERVE_CONCAT(gridserve_statusor_, __LINE__), lhs, expr)

#define GRIDSERVE_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return statusor.status();              \
  lhs = std::move(statusor).value()
