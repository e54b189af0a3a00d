#include "runtime/io/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/temp_dir.h"

namespace shardlm {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Builds a safetensors file by hand: 8-byte little-endian header length, JSON header, data.
std::string safetensors_bytes(const std::string& header, const std::string& data, std::uint64_t declared_length) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((declared_length >> (8 * i)) & 0xff);
  return bytes + header + data;
}

std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return safetensors_bytes(header, data, header.size());
}

std::string floats(std::initializer_list<float> values) {
  std::string bytes(values.size() * 4, '\0');
  std::memcpy(bytes.data(), values.begin(), bytes.size());
  return bytes;
}

std::string error_of(const std::filesystem::path& path) {
  try {
    SafetensorsFile file(path);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

TEST(SafetensorsTest, ReadsTensorsAndMetadata) {
  TempDir dir;
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}})";
  const auto path = dir.write("m.safetensors", safetensors_bytes(header, floats({1, 2, 3, 4}) + std::string(6, '\x01')));
  const SafetensorsFile file(path);
  ASSERT_EQ(file.tensors().size(), 2u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  const TensorEntry* a = file.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->type, StorageType::F32);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(a->numel(), 4);
  EXPECT_EQ(reinterpret_cast<const float*>(a->data)[3], 4.0f);
  const TensorEntry* b = file.find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->type, StorageType::BF16);
  EXPECT_EQ(b->nbytes, 6u);
  EXPECT_EQ(file.find("c"), nullptr);
}

TEST(SafetensorsTest, RejectsFileShorterThanHeaderLength) {
  TempDir dir;
  const auto path = dir.write("short.safetensors", std::string(5, '\0'));
  EXPECT_THAT(error_of(path), HasSubstr("too short"));
}

TEST(SafetensorsTest, RejectsHeaderLengthBeyondFile) {
  TempDir dir;
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  const auto path = dir.write("long.safetensors", safetensors_bytes(header, floats({1}), 1000));
  EXPECT_THAT(error_of(path), HasSubstr("exceeds the file size"));
  EXPECT_THAT(error_of(path), HasSubstr("long.safetensors"));
}

TEST(SafetensorsTest, RejectsCorruptHeaderJson) {
  TempDir dir;
  const auto path = dir.write("bad.safetensors", safetensors_bytes(R"({"a":{"dtype":)", ""));
  EXPECT_THAT(error_of(path), HasSubstr("not valid JSON"));
}

TEST(SafetensorsTest, RejectsOffsetsOutsideDataSection) {
  TempDir dir;
  const std::string header = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  // Truncated: only two of the four floats are present.
  const auto path = dir.write("trunc.safetensors", safetensors_bytes(header, floats({1, 2})));
  const std::string error = error_of(path);
  EXPECT_THAT(error, HasSubstr("tensor 'w'"));
  EXPECT_THAT(error, HasSubstr("outside"));
}

TEST(SafetensorsTest, RejectsOffsetsThatDisagreeWithShape) {
  TempDir dir;
  const std::string header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  const auto path = dir.write("shape.safetensors", safetensors_bytes(header, floats({1, 2})));
  EXPECT_THAT(error_of(path), HasSubstr("need 12"));
}

TEST(SafetensorsTest, RejectsUnknownDtype) {
  TempDir dir;
  const std::string header = R"({"w":{"dtype":"F8_E9M9","shape":[1],"data_offsets":[0,1]}})";
  const auto path = dir.write("dtype.safetensors", safetensors_bytes(header, "x"));
  EXPECT_THAT(error_of(path), HasSubstr("unsupported dtype 'F8_E9M9'"));
}

TEST(SafetensorsTest, RejectsReversedOffsets) {
  TempDir dir;
  const std::string header = R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})";
  const auto path = dir.write("rev.safetensors", safetensors_bytes(header, "abcd"));
  EXPECT_THAT(error_of(path), HasSubstr("tensor 'w'"));
}

TEST(SafetensorsTest, MissingFileNamesThePath) {
  EXPECT_THAT(error_of("/nonexistent/model.safetensors"), HasSubstr("/nonexistent/model.safetensors"));
}

}  // namespace
}  // namespace shardlm
