#pragma once

#include <stdexcept>
#include <string>

namespace cnnlab {

/// Base of every error cnnlab's library throws. The message is meant for the user: it names the
/// file or option, what was expected and what was found.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// A data file exists but its contents are not what the format promises.
class DataFormatError : public Error {
  using Error::Error;
};

/// A dataset (or one of its files) could not be found.
class DatasetNotFoundError : public Error {
  using Error::Error;
};

/// A config file, a `--set` override or an option value is invalid.
class ConfigError : public Error {
  using Error::Error;
};

/// The layers cannot be built on their input: a window larger than the maps it slides over, or
/// maps that shrink to nothing. Keras refuses the same model when it builds it.
class ShapeError : public ConfigError {
  using ConfigError::ConfigError;
};

/// A checkpoint cannot be written, read, or does not belong to the model at hand.
class CheckpointError : public Error {
  using Error::Error;
};

/// A file or directory cannot be read or written.
class IoError : public Error {
  using Error::Error;
};

/// Training stopped because the loss became NaN or infinite.
class DivergenceError : public Error {
  using Error::Error;
};

/// Text of a LibTorch error without its C++ backtrace, for messages shown to users.
std::string torch_error_message(const std::exception& error);

}  // namespace cnnlab
