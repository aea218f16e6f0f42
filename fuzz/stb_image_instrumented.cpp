// In fuzzing builds, stb_image (the header Debian's libstb-dev ships) is compiled here, with the
// fuzzer's coverage and the sanitizers, so that the image target sees into the decoder instead
// of calling the prebuilt library blind.
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
