#include "../../../src/storage/column_arrays.hpp"

#include <gtest/gtest.h>
#include <soci/soci.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "storage_test_support.hpp"

namespace iotd::storage::detail {
namespace {

using testing::adversarial_texts;
using testing::TestDatabase;

std::string text_literal(const std::vector<std::optional<std::string>>& vs) {
  std::string out = "{";
  for (std::size_t i = 0; i < vs.size(); ++i) {
    if (i) out += ',';
    if (vs[i])
      append_array_element(out, std::string_view(*vs[i]));
    else
      out += "NULL";
  }
  return out + "}";
}

TEST(ArrayElement, TextIsAlwaysQuotedWithQuotesAndBackslashesEscaped) {
  std::string out;
  append_array_element(out, std::string_view(""));
  EXPECT_EQ(out, R"("")");
  out.clear();
  append_array_element(out, std::string_view("NULL"));
  EXPECT_EQ(out, R"("NULL")");
  out.clear();
  append_array_element(out, std::string_view(R"(a"b\c,{d} )"));
  EXPECT_EQ(out, R"("a\"b\\c,{d} ")");
  out.clear();
  append_array_element(out, std::string_view(R"(\\"")"));
  EXPECT_EQ(out, R"("\\\\\"\"")");
}

TEST(ArrayElement, TextWithANulByteIsRefused) {
  std::string out;
  EXPECT_THROW(append_array_element(out, std::string_view("a\0b", 3)), std::invalid_argument);
}

TEST(ArrayElement, NumbersInShortestExactFormAndNonFiniteByName) {
  std::string out;
  append_array_element(out, std::numeric_limits<long long>::min());
  out += ' ';
  append_array_element(out, 0.1 + 0.2);
  out += ' ';
  append_array_element(out, -0.0);
  out += ' ';
  append_array_element(out, std::numeric_limits<double>::infinity());
  out += ' ';
  append_array_element(out, -std::numeric_limits<double>::infinity());
  out += ' ';
  append_array_element(out, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(out, "-9223372036854775808 0.30000000000000004 -0 Infinity -Infinity NaN");
}

// PostgreSQL (the array path is PostgreSQL's) from the backends this run names.
std::optional<std::string> postgresql_backend() {
  for (const auto& b : testing::test_backends())
    if (b == "postgresql" || b.rfind("postgres", 0) == 0) return b;
  return std::nullopt;
}

#define IOTD_REQUIRE_POSTGRESQL(var)                                         \
  auto var = postgresql_backend();                                          \
  if (!var) GTEST_SKIP() << "no PostgreSQL in this run";

TEST(ArrayElementOnPostgresql, TextRoundTripsExactly) {
  IOTD_REQUIRE_POSTGRESQL(backend);
  TestDatabase db(*backend, false);
  auto s = db.raw();
  std::vector<std::optional<std::string>> sent;
  for (auto& t : adversarial_texts()) {
    sent.emplace_back(t);
    if (sent.size() % 7 == 0) sent.emplace_back(std::nullopt);
  }
  std::string literal = text_literal(sent);
  std::vector<std::string> got(sent.size() + 1);
  std::vector<soci::indicator> ind(sent.size() + 1);
  *s << "SELECT u FROM unnest(CAST(:a AS TEXT[])) WITH ORDINALITY AS t(u, i) ORDER BY i",
      soci::use(literal), soci::into(got, ind);
  ASSERT_EQ(got.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (!sent[i]) {
      EXPECT_EQ(ind[i], soci::i_null) << "element " << i;
    } else {
      ASSERT_EQ(ind[i], soci::i_ok) << "element " << i << ": " << *sent[i];
      EXPECT_EQ(got[i], *sent[i]) << "element " << i;
    }
  }
}

TEST(ArrayElementOnPostgresql, NumbersRoundTripExactly) {
  IOTD_REQUIRE_POSTGRESQL(backend);
  TestDatabase db(*backend, false);
  auto s = db.raw();
  std::vector<double> doubles = {0.0, -0.0, 0.1, 0.1 + 0.2, -1e-300, 1.7976931348623157e308,
                                 std::numeric_limits<double>::denorm_min(),
                                 std::numeric_limits<double>::min(), -123456.789,
                                 std::numeric_limits<double>::infinity(),
                                 -std::numeric_limits<double>::infinity()};
  std::mt19937_64 rng(7);
  while (doubles.size() < 2000) {
    std::uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (std::isfinite(d)) doubles.push_back(d);
  }
  std::vector<long long> ints = {0, -1, 1, std::numeric_limits<long long>::min(),
                                 std::numeric_limits<long long>::max()};
  while (ints.size() < doubles.size()) ints.push_back(static_cast<long long>(rng()));
  std::string dl = "{", il = "{";
  for (std::size_t i = 0; i < doubles.size(); ++i) {
    if (i) dl += ',', il += ',';
    append_array_element(dl, doubles[i]);
    append_array_element(il, ints[i]);
  }
  dl += ",NaN}";
  il += "}";
  std::vector<double> got(doubles.size() + 1);
  std::vector<long long> got_ints(doubles.size() + 1);
  std::vector<soci::indicator> ind(doubles.size() + 1);
  *s << "SELECT d, i FROM unnest(CAST(:d AS DOUBLE PRECISION[]), CAST(:i AS BIGINT[])) "
        "WITH ORDINALITY AS t(d, i, o) ORDER BY o",
      soci::use(dl), soci::use(il), soci::into(got), soci::into(got_ints, ind);
  ASSERT_EQ(got.size(), doubles.size() + 1);
  for (std::size_t i = 0; i < doubles.size(); ++i) {
    EXPECT_EQ(std::memcmp(&got[i], &doubles[i], sizeof(double)), 0)
        << "element " << i << ": sent " << doubles[i] << ", got " << got[i];
    EXPECT_EQ(got_ints[i], ints[i]);
  }
  EXPECT_TRUE(std::isnan(got.back()));
  EXPECT_EQ(ind.back(), soci::i_null);  // the shorter array is padded with NULL
}

class ColumnArrayStatementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = postgresql_backend();
    if (!backend_) GTEST_SKIP() << "no PostgreSQL in this run";
    db_.emplace(*backend_, false);
    s_ = db_->raw();
    *s_ << "DROP TABLE IF EXISTS cat";
    *s_ << "CREATE TABLE cat(id BIGINT PRIMARY KEY, v DOUBLE PRECISION, t TEXT, "
           "CHECK (t IS NULL OR t <> 'poison'))";
  }
  void TearDown() override {
    if (s_) *s_ << "DROP TABLE IF EXISTS cat";
  }

  using T = ColumnType;
  std::optional<std::string> backend_;
  std::optional<TestDatabase> db_;
  std::unique_ptr<soci::session> s_;
};

TEST_F(ColumnArrayStatementTest, RowsWithNullsArriveInOrderAcrossChunks) {
  std::vector<T> cols{T::integer, T::real, T::text};
  std::vector<long long> ids;
  ColumnArrayStatement st(*s_, "INSERT INTO cat(id, v, t) SELECT * FROM " +
                                   ColumnArrayStatement::unnest(cols) + " RETURNING id",
                          cols, 3, [&](soci::statement& x) {
                            ids.resize(10);
                            x.exchange(soci::into(ids));
                          });
  const auto texts = adversarial_texts();
  std::vector<long long> returned;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    st.add_row();
    st.set(0, static_cast<long long>(i));
    if (i % 3 != 1) st.set(1, i * 0.5);  // NULL in every third row
    if (i % 5 != 2) st.set(2, texts[i]);
    if (st.full() || i + 1 == texts.size()) {
      ids.resize(10);
      soci::statement* x = st.execute(true);
      ASSERT_NE(x, nullptr);
      returned.insert(returned.end(), ids.begin(), ids.end());
      EXPECT_TRUE(st.empty());
    }
  }
  EXPECT_EQ(st.execute(), nullptr);
  ASSERT_EQ(returned.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(returned[i], static_cast<long long>(i));

  std::vector<long long> got_id(texts.size() + 1);
  std::vector<double> got_v(texts.size() + 1);
  std::vector<std::string> got_t(texts.size() + 1);
  std::vector<soci::indicator> vi(texts.size() + 1), ti(texts.size() + 1);
  *s_ << "SELECT id, v, t FROM cat ORDER BY id", soci::into(got_id), soci::into(got_v, vi),
      soci::into(got_t, ti);
  ASSERT_EQ(got_id.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(vi[i], i % 3 != 1 ? soci::i_ok : soci::i_null) << i;
    if (i % 3 != 1) {
      EXPECT_EQ(got_v[i], i * 0.5);
    }
    ASSERT_EQ(ti[i], i % 5 != 2 ? soci::i_ok : soci::i_null) << i;
    if (i % 5 != 2) {
      EXPECT_EQ(got_t[i], texts[i]) << i;
    }
  }
}

TEST_F(ColumnArrayStatementTest, ABadRowFailsItsChunkAndTheStatementStaysUsable) {
  std::vector<T> cols{T::integer, T::text};
  ColumnArrayStatement st(*s_, "INSERT INTO cat(id, t) SELECT * FROM " +
                                   ColumnArrayStatement::unnest(cols),
                          cols, 100);
  for (long long i = 0; i < 10; ++i) {
    st.add_row();
    st.set(0, i);
    st.set(1, std::string(i == 6 ? "poison" : "ok"));
  }
  EXPECT_THROW(st.execute(), soci::soci_error);
  EXPECT_TRUE(st.empty());
  long long n = -1;
  *s_ << "SELECT COUNT(*) FROM cat", soci::into(n);
  EXPECT_EQ(n, 0);  // the whole chunk failed, not just the row
  for (long long i = 0; i < 10; ++i) {
    st.add_row();
    st.set(0, i);
    if (i != 6) st.set(1, std::string("ok"));
  }
  st.execute();
  *s_ << "SELECT COUNT(*) FROM cat", soci::into(n);
  EXPECT_EQ(n, 10);
}

TEST_F(ColumnArrayStatementTest, NulByteFailsTheChunkBeforeTheServerSeesIt) {
  std::vector<T> cols{T::integer, T::text};
  ColumnArrayStatement st(*s_, "INSERT INTO cat(id, t) SELECT * FROM " +
                                   ColumnArrayStatement::unnest(cols),
                          cols, 100);
  st.add_row();
  st.set(0, 1LL);
  st.set(1, std::string("fine"));
  st.add_row();
  st.set(0, 2LL);
  EXPECT_THROW(st.set(1, std::string("bad\0tail", 8)), std::invalid_argument);
  EXPECT_TRUE(st.empty());
  EXPECT_EQ(st.execute(), nullptr);
  long long n = -1;
  *s_ << "SELECT COUNT(*) FROM cat", soci::into(n);
  EXPECT_EQ(n, 0);
}

TEST(ColumnArrayStatement, UnnestCastsEachColumnToItsArrayType) {
  EXPECT_EQ(ColumnArrayStatement::unnest({ColumnType::integer, ColumnType::real, ColumnType::text}),
            "unnest(CAST(:c0 AS BIGINT[]), CAST(:c1 AS DOUBLE PRECISION[]), CAST(:c2 AS TEXT[]))");
}

}  // namespace
}  // namespace iotd::storage::detail
