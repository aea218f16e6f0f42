#include "assets.h"

// Each file is placed in read-only data by the assembler's .incbin; CMake passes the paths and
// makes this file depend on them. A zero byte follows each, unused but harmless.
#define CNNLAB_EMBED_FILE(symbol, path)                                               \
  __asm__(                                                                            \
      ".section .rodata\n"                                                            \
      ".balign 16\n"                                                                  \
      ".local " #symbol "_begin\n" #symbol                                            \
      "_begin:\n"                                                                     \
      ".incbin \"" path                                                               \
      "\"\n"                                                                          \
      ".local " #symbol "_end\n" #symbol                                              \
      "_end:\n"                                                                       \
      ".byte 0\n"                                                                     \
      ".previous\n");                                                                 \
  extern "C" const char symbol##_begin[];                                             \
  extern "C" const char symbol##_end[];                                               \
  std::string_view symbol() {                                                         \
    return std::string_view(symbol##_begin,                                           \
                            static_cast<std::size_t>(symbol##_end - symbol##_begin)); \
  }

namespace cnnlab::report_assets {

CNNLAB_EMBED_FILE(vega_js, CNNLAB_VEGA_JS)
CNNLAB_EMBED_FILE(vega_lite_js, CNNLAB_VEGA_LITE_JS)
CNNLAB_EMBED_FILE(vega_embed_js, CNNLAB_VEGA_EMBED_JS)
CNNLAB_EMBED_FILE(page_css, CNNLAB_PAGE_CSS)
CNNLAB_EMBED_FILE(page_js, CNNLAB_PAGE_JS)

}  // namespace cnnlab::report_assets
