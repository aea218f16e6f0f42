// Writes the fuzz targets' seed corpus: make_seeds <output dir> <configs dir>.
#include <iostream>

#include "targets.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " <output dir> <configs dir>\n";
    return 2;
  }
  try {
    cnnlab::fuzz::write_seed_corpus(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
