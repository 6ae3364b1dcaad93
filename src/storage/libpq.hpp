// libpq, loaded when first needed (docs/architecture.md §10, §21). The PostgreSQL COPY
// stage (pg_copy.cpp) and the cluster relay (src/cluster/relay.cpp) call libpq directly;
// linking it into iotd would load libpq and its dependencies (Kerberos, LDAP, GnuTLS,
// p11-kit: about 6 MiB of resident library pages and their start-up constructors) into
// every process, SQLite-only ones included. SOCI loads its PostgreSQL backend, and with it
// libpq, only for a postgresql:// URL; libpq() opens the same library then.
#pragma once

#include <libpq-fe.h>

namespace iotd::storage {

// The libpq functions iotd calls, named as in libpq-fe.h.
struct LibPq {
#define IOTD_LIBPQ_FUNCTIONS(X)                                                                 \
  X(PQclear) X(PQconnectdbParams) X(PQconsumeInput) X(PQerrorMessage) X(PQexec) X(PQexecParams) \
  X(PQfinish) X(PQfreemem) X(PQgetResult) X(PQgetisnull) X(PQgetvalue) X(PQnotifies)            \
  X(PQntuples) X(PQputCopyData) X(PQputCopyEnd) X(PQresultErrorField) X(PQresultStatus)         \
  X(PQsocket) X(PQstatus) X(PQtransactionStatus)
#define IOTD_LIBPQ_MEMBER(name) decltype(&::name) name = nullptr;
  IOTD_LIBPQ_FUNCTIONS(IOTD_LIBPQ_MEMBER)
#undef IOTD_LIBPQ_MEMBER
};

// libpq.so.5, opened on the first call (thread-safe); throws std::runtime_error naming the
// library or the missing symbol when it cannot be loaded.
const LibPq& libpq();

}  // namespace iotd::storage
