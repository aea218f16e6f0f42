#include "cnnlab/training/evaluate.h"

#include <fmt/format.h>

#include "cnnlab/error.h"
#include "cnnlab/training/distributed.h"

namespace cnnlab {

const char* tta_name(TestTimeAugmentation tta) {
  switch (tta) {
    case TestTimeAugmentation::kNone:
      return "none";
    case TestTimeAugmentation::kFlip:
      return "flip";
    case TestTimeAugmentation::kFlipTranslate:
      return "flip_translate";
  }
  return "?";
}

TestTimeAugmentation parse_tta(const std::string& text, const std::string& where) {
  for (auto tta : {TestTimeAugmentation::kNone, TestTimeAugmentation::kFlip,
                   TestTimeAugmentation::kFlipTranslate}) {
    if (text == tta_name(tta)) return tta;
  }
  throw ConfigError(fmt::format(
      "{}: unknown test-time augmentation '{}': expected one of none, flip, flip_translate", where,
      text));
}

torch::Tensor tta_logits(Network& network, const torch::Tensor& x, TestTimeAugmentation tta) {
  const auto logits = [&network](const torch::Tensor& images) {
    return network->forward(images).to(torch::kFloat32);
  };
  if (tta == TestTimeAugmentation::kNone) return logits(x);
  const auto mirrored = [&](const torch::Tensor& images) {
    return 0.5 * (logits(images) + logits(images.flip({3})));
  };
  if (tta == TestTimeAugmentation::kFlip) return mirrored(x);
  namespace F = torch::nn::functional;
  const int64_t h = x.size(2), w = x.size(3);
  const auto padded = F::pad(x, F::PadFuncOptions({1, 1, 1, 1}).mode(torch::kReflect));
  const auto up_left = padded.slice(2, 2, h + 2).slice(3, 2, w + 2);
  const auto down_right = padded.slice(2, 0, h).slice(3, 0, w);
  return 0.5 * mirrored(x) + 0.25 * (mirrored(up_left) + mirrored(down_right));
}

namespace {

// The device of the network's weights (the CPU for a network without any).
torch::Device network_device(Network& network) {
  const auto parameters = network->parameters();
  return parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device();
}

// Batches of `data` (on any device) through the network on the network's device; `visit` gets
// the float32 logits and labels there.
template <typename Visit>
void for_each_batch(Network& network, const Dataset& data, const Normalization& norm,
                    int64_t batch_size, Precision precision, TestTimeAugmentation tta,
                    Visit visit) {
  TORCH_CHECK(batch_size > 0, "evaluation batch size must be > 0");
  network->eval();
  c10::InferenceMode inference;
  const torch::Device device = network_device(network);
  PrecisionGuard guard(precision, device);
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, data.size());
    const auto images = data.images.slice(0, begin, end).to(device, /*non_blocking=*/true);
    const auto logits = tta_logits(network, to_network_input(images, norm), tta);
    visit(begin, end, logits, data.labels.slice(0, begin, end).to(device, /*non_blocking=*/true));
  }
}

}  // namespace

EvalResult evaluate(Network& network, const Dataset& data, const Normalization& norm,
                    int64_t batch_size, Precision precision, ProcessGroup* group,
                    const EvalProgress& progress, TestTimeAugmentation tta) {
  Dataset share = data;
  if (group != nullptr && data.size() > 0) {
    group->broadcast(network->buffers());
    const int64_t n = data.size(), world = group->world_size(), rank = group->rank();
    share = data.slice(n * rank / world, n * (rank + 1) / world);
  }
  // Sums stay on the device until the end: one wait for the whole set, not one per batch.
  const auto on_device =
      torch::TensorOptions().dtype(torch::kFloat64).device(network_device(network));
  torch::Tensor loss_sum = torch::zeros({}, on_device), correct = torch::zeros({}, on_device);
  const int64_t batches = batch_size > 0 ? (share.size() + batch_size - 1) / batch_size : 0;
  if (progress) progress(0, batches);
  for_each_batch(
      network, share, norm, batch_size, precision, tta,
      [&](int64_t, int64_t end, const torch::Tensor& logits, const torch::Tensor& labels) {
        const auto batch_loss = torch::nn::functional::cross_entropy(
            logits, labels,
            torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
        loss_sum = loss_sum + batch_loss.to(torch::kFloat64);
        correct = correct + logits.argmax(1).eq(labels).sum().to(torch::kFloat64);
        if (progress) progress((end + batch_size - 1) / batch_size, batches);
      });
  auto sums = torch::stack({loss_sum, correct}).cpu();
  if (group != nullptr) group->all_reduce_sum(sums);
  EvalResult result;
  result.count = data.size();
  if (result.count > 0) {
    torch::NoGradGuard no_grad;
    result.loss = sums[0].item<double>() / static_cast<double>(result.count) +
                  network->l2_penalty().item<double>();
    result.accuracy = sums[1].item<double>() / static_cast<double>(result.count);
  }
  return result;
}

torch::Tensor predict_probabilities(Network& network, const Dataset& data,
                                    const Normalization& norm, int64_t batch_size,
                                    Precision precision, TestTimeAugmentation tta) {
  auto probabilities = torch::empty({data.size(), data.num_classes()}, torch::kFloat32);
  for_each_batch(network, data, norm, batch_size, precision, tta,
                 [&](int64_t begin, int64_t end, const torch::Tensor& logits,
                     const torch::Tensor& /*labels*/) {
                   probabilities.slice(0, begin, end).copy_(torch::softmax(logits, 1));
                 });
  return probabilities;
}

}  // namespace cnnlab
