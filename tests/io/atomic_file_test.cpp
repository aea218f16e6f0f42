#include "cnnlab/io/atomic_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(AtomicFileTest, ReplacesContentsAndLeavesNoTemporary) {
  TempDir dir;
  write_file_atomically(dir / "f.txt", "one");
  write_file_atomically(dir / "f.txt", "two");
  EXPECT_EQ(read_all(dir / "f.txt"), "two");
  EXPECT_FALSE(fs::exists(dir / "f.txt.tmp"));
}

TEST(AtomicFileTest, FailedWriteKeepsThePreviousFile) {
  TempDir dir;
  write_file_atomically(dir / "f.txt", "good");
  EXPECT_THROW(write_atomically(dir / "f.txt",
                                [](const fs::path& tmp) {
                                  std::ofstream(tmp) << "half";
                                  throw IoError("disk full");
                                }),
               IoError);
  EXPECT_EQ(read_all(dir / "f.txt"), "good");
  EXPECT_FALSE(fs::exists(dir / "f.txt.tmp"));
}

TEST(AtomicFileTest, UnwritableDirectoryIsAClearError) {
  if (geteuid() == 0) {
    // root ignores permission bits; a path under a regular file fails for everyone.
    TempDir dir;
    testing::write_text(dir / "file", "x");
    try {
      ensure_writable_directory(dir / "file" / "runs");
      FAIL();
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find("cannot create output directory"), std::string::npos);
    }
    return;
  }
  TempDir dir;
  fs::create_directory(dir / "locked");
  fs::permissions(dir / "locked", fs::perms::owner_read | fs::perms::owner_exec);
  EXPECT_THROW(ensure_writable_directory(dir / "locked"), IoError);
}

}  // namespace
}  // namespace cnnlab
