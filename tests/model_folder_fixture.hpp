// A test fixture holding a scratch copy of a model folder, whose config.json
// a test may rewrite before loading it with Model::load (Classifier, Detector).
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "visionrt/visionrt.hpp"

namespace visionrt {

template <typename Model>
class ModelFolderFixture : public ::testing::Test {
 protected:
  explicit ModelFolderFixture(std::filesystem::path source) : source_(std::move(source)) {}

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("vrt_model_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    for (const auto& e : std::filesystem::directory_iterator(source_))
      std::filesystem::copy(e.path(), dir_ / e.path().filename());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  nlohmann::json config() const { return nlohmann::json::parse(std::ifstream(dir_ / "config.json")); }
  void write_config(const nlohmann::json& j) const { std::ofstream(dir_ / "config.json") << j.dump(2); }

  // Loads the folder and returns the error; fails the test when loading succeeds.
  Error load_error() const {
    try {
      Model::load(dir_.string(), {Device::cpu});
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "loading " << dir_ << " succeeded";
    return Error(StatusCode::ok, "");
  }

  std::filesystem::path source_, dir_;
};

}  // namespace visionrt
