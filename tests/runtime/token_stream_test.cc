#include "runtime/data/token_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>

#include "golden/fixture.h"
#include "runtime/eval/running_stats.h"
#include "runtime/temp_dir.h"
#include "runtime/text/tokenizer.h"

namespace shardlm {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::string int32_bytes(const std::vector<std::int32_t>& ids) {
  std::string bytes;
  for (const auto id : ids) {
    for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<char>((static_cast<std::uint32_t>(id) >> (8 * b)) & 0xff));
  }
  return bytes;
}

// A version-1.0 .npy file as NumPy writes it: magic, version, header length, padded dict header.
std::string npy_bytes(const std::string& descr, const std::vector<std::int32_t>& ids) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + std::to_string(ids.size()) + ",), }";
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string bytes = "\x93NUMPY";
  bytes.push_back('\x01');
  bytes.push_back('\x00');
  bytes.push_back(static_cast<char>(header.size() & 0xff));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  return bytes + header + int32_bytes(ids);
}

std::string load_error(const std::filesystem::path& path, const Tokenizer* tokenizer, std::int64_t vocab = 512) {
  try {
    load_token_stream(path, tokenizer, vocab);
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

class TokenStreamTest : public ::testing::Test {
 protected:
  Tokenizer tokenizer_{testing::fixtures_dir() / "llama_f32"};
  TempDir dir_;
};

TEST_F(TokenStreamTest, TextDocumentsAreSplitAtBlankLinesAndEachGetsBos) {
  const auto path = dir_.write("data.txt", "First document,\nsecond line.\n\n  \n\nSecond document.\n\n\n");
  const TokenStream stream = load_token_stream(path, &tokenizer_, 512);
  EXPECT_EQ(stream.documents, 2u);
  std::vector<std::int32_t> expected = {1};
  for (const auto id : tokenizer_.encode_without_bos("First document,\nsecond line.")) expected.push_back(id);
  expected.push_back(1);
  for (const auto id : tokenizer_.encode_without_bos("Second document.")) expected.push_back(id);
  EXPECT_EQ(stream.ids, expected);
}

TEST_F(TokenStreamTest, JsonlLinesAreDocuments) {
  const auto path = dir_.write("data.jsonl", "{\"text\": \"Alpha beta.\"}\n\n{\"text\": \"Gamma\", \"id\": 3}\n");
  const TokenStream stream = load_token_stream(path, &tokenizer_, 512);
  EXPECT_EQ(stream.documents, 2u);
  EXPECT_EQ(std::count(stream.ids.begin(), stream.ids.end(), 1), 2);
}

TEST_F(TokenStreamTest, MalformedJsonlNamesTheLine) {
  const auto path = dir_.write("bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n");
  EXPECT_THAT(load_error(path, &tokenizer_), HasSubstr("bad.jsonl:2: malformed JSON line"));
  const auto missing = dir_.write("missing.jsonl", "{\"text\": \"ok\"}\n{\"body\": \"no text\"}\n");
  EXPECT_THAT(load_error(missing, &tokenizer_), HasSubstr("missing.jsonl:2: expected an object with a string \"text\""));
}

TEST_F(TokenStreamTest, RawInt32AndNumpyIdsAreReadAsGiven) {
  const std::vector<std::int32_t> ids = {5, 0, 511, 17, 256};
  EXPECT_EQ(load_token_stream(dir_.write("ids.i32", int32_bytes(ids)), nullptr, 512).ids, ids);
  EXPECT_EQ(load_token_stream(dir_.write("ids.npy", npy_bytes("<i4", ids)), nullptr, 512).ids, ids);
}

TEST_F(TokenStreamTest, NumpyOfAnotherDtypeIsRefused) {
  EXPECT_THAT(load_error(dir_.write("f.npy", npy_bytes("<f4", {1, 2})), nullptr), HasSubstr("'<i4'"));
  EXPECT_THAT(load_error(dir_.write("junk.npy", "not numpy"), nullptr), HasSubstr("NUMPY magic"));
}

TEST_F(TokenStreamTest, IdsOutsideTheVocabularyAreNamed) {
  EXPECT_THAT(load_error(dir_.write("big.i32", int32_bytes({3, 512})), nullptr),
              HasSubstr("token 1 (id 512) is outside the model's vocabulary [0, 512)"));
  EXPECT_THAT(load_error(dir_.write("neg.i32", int32_bytes({-1})), nullptr), HasSubstr("id -1"));
}

TEST_F(TokenStreamTest, MissingEmptyOrRaggedFilesAreRefused) {
  EXPECT_THAT(load_error(dir_.path() / "nope.txt", &tokenizer_), HasSubstr("cannot open data file"));
  EXPECT_THAT(load_error(dir_.write("empty.txt", ""), &tokenizer_), HasSubstr("is empty"));
  EXPECT_THAT(load_error(dir_.write("blank.txt", "\n\n  \n"), &tokenizer_), HasSubstr("yields no tokens"));
  EXPECT_THAT(load_error(dir_.write("odd.i32", "abcdef"), nullptr), HasSubstr("not a whole number of int32 ids"));
  EXPECT_THAT(load_error(dir_.write("text.txt", "words"), nullptr), HasSubstr("needs the model's tokenizer"));
}

TEST(WindowsTest, EveryWindowInStreamOrderDroppingTheTail) {
  EXPECT_EQ(choose_windows(10, 3, -1, 0, "s"), (std::vector<std::size_t>{0, 3, 6}));
  EXPECT_EQ(choose_windows(9, 3, 100, 0, "s"), (std::vector<std::size_t>{0, 3, 6}));
}

TEST(WindowsTest, SamplesAreDistinctSortedAndSetBySeed) {
  const auto a = choose_windows(1000, 10, 20, 7, "s");
  ASSERT_EQ(a.size(), 20u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end());
  for (const auto start : a) EXPECT_EQ(start % 10, 0u);
  EXPECT_EQ(a, choose_windows(1000, 10, 20, 7, "s"));
  EXPECT_NE(a, choose_windows(1000, 10, 20, 8, "s"));
}

TEST(WindowsTest, TooFewTokensSaysHowManyAreNeeded) {
  try {
    choose_windows(100, 128, -1, 0, "data.txt");
    FAIL();
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("'data.txt' has 100 tokens, fewer than one window of seq-len 128"));
  }
}

TEST(RunningStatsTest, MergedHalvesEqualOnePass) {
  std::vector<double> values(101);
  std::iota(values.begin(), values.end(), -20.0);
  for (auto& v : values) v = v * v / 7.0;
  RunningStats whole;
  RunningStats first;
  RunningStats second;
  for (std::size_t i = 0; i < values.size(); ++i) {
    whole.add(values[i]);
    (i < 37 ? first : second).add(values[i]);
  }
  first.merge(second);
  EXPECT_DOUBLE_EQ(first.count, whole.count);
  EXPECT_NEAR(first.mean, whole.mean, 1e-12);
  EXPECT_NEAR(first.sd(), whole.sd(), 1e-10);
  // The sample standard deviation by its textbook formula.
  double sum = 0.0;
  for (const auto v : values) sum += (v - whole.mean) * (v - whole.mean);
  EXPECT_NEAR(whole.sd(), std::sqrt(sum / 100.0), 1e-10);
}

}  // namespace
}  // namespace shardlm
