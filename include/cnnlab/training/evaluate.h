#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>

#include "cnnlab/data/dataset.h"
#include "cnnlab/models/network.h"
#include "cnnlab/training/precision.h"

namespace cnnlab {

class ProcessGroup;

/// Test-time augmentation: the logits of several views of each image, averaged. flip: the image
/// and its mirror image, ½ each. flip_translate (airbench's): ½ of that, and ½ of the mean of the
/// same for the image shifted one pixel up-left and one pixel down-right (borders reflected).
enum class TestTimeAugmentation { kNone, kFlip, kFlipTranslate };
const char* tta_name(TestTimeAugmentation tta);
/// Throws ConfigError naming `where` and the accepted values.
TestTimeAugmentation parse_tta(const std::string& text, const std::string& where);
/// The averaged logits of `tta`'s views of x ([N, C, H, W], as forward takes it).
torch::Tensor tta_logits(Network& network, const torch::Tensor& x, TestTimeAugmentation tta);

struct EvalResult {
  /// Mean cross-entropy plus the model's l2 term, as Keras' evaluate() reports it.
  double loss = 0;
  double accuracy = 0;
  int64_t count = 0;
};

/// Called with (batches done, batches) before the first batch and after each (Keras'
/// on_test_batch_end, for a progress bar).
using EvalProgress = std::function<void(int64_t done, int64_t total)>;

/// Loss and accuracy of `network` on `data`, in eval mode and inference mode (no autograd), in
/// batches of `batch_size`, in `precision`. Leaves the network in eval mode.
/// With `group`, every process of it calls this with the same `data`: each evaluates its even
/// share with rank 0's batch-norm statistics (broadcast first, so that all evaluate the model
/// rank 0 saves), and all get the whole set's result.
EvalResult evaluate(Network& network, const Dataset& data, const Normalization& norm,
                    int64_t batch_size, Precision precision = Precision::kFloat32,
                    ProcessGroup* group = nullptr, const EvalProgress& progress = {},
                    TestTimeAugmentation tta = TestTimeAugmentation::kNone);

/// Class probabilities of every image of `data`: [N, num_classes] float32 in [0, 1].
torch::Tensor predict_probabilities(Network& network, const Dataset& data,
                                    const Normalization& norm, int64_t batch_size,
                                    Precision precision = Precision::kFloat32,
                                    TestTimeAugmentation tta = TestTimeAugmentation::kNone);

}  // namespace cnnlab
