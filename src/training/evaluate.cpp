#include "cnnlab/training/evaluate.h"

namespace cnnlab {

namespace {

template <typename Visit>
void for_each_batch(Network& network, const Dataset& data, const Normalization& norm,
                    int64_t batch_size, Precision precision, Visit visit) {
  TORCH_CHECK(batch_size > 0, "evaluation batch size must be > 0");
  network->eval();
  c10::InferenceMode inference;
  PrecisionGuard guard(precision);
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, data.size());
    const auto logits = network->forward(to_network_input(data.images.slice(0, begin, end), norm))
                            .to(torch::kFloat32);
    visit(begin, end, logits, data.labels.slice(0, begin, end));
  }
}

}  // namespace

EvalResult evaluate(Network& network, const Dataset& data, const Normalization& norm,
                    int64_t batch_size, Precision precision) {
  double loss_sum = 0, correct = 0;
  for_each_batch(network, data, norm, batch_size, precision,
                 [&](int64_t, int64_t, const torch::Tensor& logits, const torch::Tensor& labels) {
                   loss_sum +=
                       torch::nn::functional::cross_entropy(
                           logits, labels,
                           torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                           .item<double>();
                   correct += logits.argmax(1).eq(labels).sum().item<double>();
                 });
  EvalResult result;
  result.count = data.size();
  if (result.count > 0) {
    torch::NoGradGuard no_grad;
    result.loss =
        loss_sum / static_cast<double>(result.count) + network->l2_penalty().item<double>();
    result.accuracy = correct / static_cast<double>(result.count);
  }
  return result;
}

torch::Tensor predict_probabilities(Network& network, const Dataset& data,
                                    const Normalization& norm, int64_t batch_size,
                                    Precision precision) {
  auto probabilities = torch::empty({data.size(), data.num_classes()}, torch::kFloat32);
  for_each_batch(network, data, norm, batch_size, precision,
                 [&](int64_t begin, int64_t end, const torch::Tensor& logits,
                     const torch::Tensor& /*labels*/) {
                   probabilities.slice(0, begin, end).copy_(torch::softmax(logits, 1));
                 });
  return probabilities;
}

}  // namespace cnnlab
