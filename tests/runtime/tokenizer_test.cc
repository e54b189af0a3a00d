#include "runtime/text/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "golden/fixture.h"
#include "runtime/temp_dir.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;

TEST(TokenizerTest, EncodesWithBosAndRoundTrips) {
  const Tokenizer tokenizer(testing::fixtures_dir() / "llama_f32");
  EXPECT_EQ(tokenizer.vocab_size(), 512);
  const std::string text = "The licenses for most software are designed to take away your freedom.";
  const auto ids = tokenizer.encode(text);
  ASSERT_GT(ids.size(), 2u);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(tokenizer.decode(ids), text);
}

TEST(TokenizerTest, ByteFallbackCoversUnseenCharacters) {
  const Tokenizer tokenizer(testing::fixtures_dir() / "llama_f32");
  const std::string text = "naïve café — 東京";
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
}

TEST(TokenizerTest, SpecialTokensComeFromModelFiles) {
  testing::TempDir dir;
  fs::copy(testing::fixtures_dir() / "llama_f32", dir.path(), fs::copy_options::recursive);
  std::ofstream(dir.path() / "generation_config.json") << R"({"bos_token_id": 1, "eos_token_id": [2, 7]})";
  std::ofstream(dir.path() / "tokenizer_config.json") << R"({"add_bos_token": false})";
  const Tokenizer tokenizer(dir.path());
  EXPECT_EQ(tokenizer.special().eos, (std::vector<std::int32_t>{2, 7}));
  EXPECT_TRUE(tokenizer.special().is_eos(7));
  EXPECT_FALSE(tokenizer.special().add_bos);
  EXPECT_NE(tokenizer.encode("hello").front(), 1);
}

TEST(TokenizerTest, StreamingTextEqualsWholeDecodeIncludingMultiByteCharacters) {
  const Tokenizer tokenizer(testing::fixtures_dir() / "llama_f32");
  const auto prompt = tokenizer.encode("Copyright");
  const auto continuation = tokenizer.encode_without_bos(" of the Program — 東京 ünd so on");
  StreamingDetokenizer stream(tokenizer, prompt.back());
  std::string streamed;
  for (const auto id : continuation) {
    const std::string piece = stream.push(id);
    EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << "a piece ended inside a UTF-8 sequence";
    streamed += piece;
  }
  streamed += stream.flush();
  std::vector<std::int32_t> whole = prompt;
  whole.insert(whole.end(), continuation.begin(), continuation.end());
  EXPECT_EQ(streamed, tokenizer.decode(whole).substr(tokenizer.decode(prompt).size()));
  EXPECT_THAT(streamed, ::testing::EndsWith("of the Program — 東京 ünd so on"));
}

TEST(TokenizerTest, MissingTokenizerModelIsNamed) {
  testing::TempDir dir;
  try {
    Tokenizer tokenizer(dir.path());
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("tokenizer.model"), std::string::npos);
  }
}

}  // namespace
}  // namespace shardlm
