#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cnnlab/models/layer_spec.h"

namespace cnnlab {

/// A kernel that whitens the kh×kw patches of `images` ([N, C, H, W]): the eigenvectors of the
/// patches' second-moment matrix, largest eigenvalue first, each divided by √(eigenvalue +
/// epsilon), so the layer's outputs are decorrelated with unit variance (ZCA-style whitening as a
/// first convolution, after tysam-code's hlb-CIFAR10 and Keller Jordan's airbench). `filters`
/// is C·kh·kw, or twice that for each filter followed later by its negative. Float32
/// [filters, C, kh, kw].
torch::Tensor whitening_kernel(const torch::Tensor& images, const std::array<int64_t, 2>& kernel,
                               int64_t filters, double epsilon = 5e-4);

/// A sequential image classifier built from a ModelSpec. Submodules are registered under the
/// layers' names (Conv1, Dense, Output, …), so state dicts and checkpoints read like the model.
/// Kernels are initialised as Keras does (Glorot uniform, zero bias).
class NetworkImpl : public torch::nn::Module {
 public:
  /// Throws ConfigError (from infer_shapes) when the spec describes an impossible model.
  explicit NetworkImpl(ModelSpec spec);

  /// x: [B, C, H, W] float32 (the spec's input shape) → logits [B, num_classes] float32.
  /// When `activations` is given, it receives every layer's output (after its activation) in order.
  torch::Tensor forward(const torch::Tensor& x, std::vector<torch::Tensor>* activations = nullptr);

  /// Whether a layer's weights start from the training data (kernel_initializer "whitening").
  bool needs_data_initialization() const;
  /// Sets the kernels that start from the data, each from its layer's input on `images`
  /// (normalised training images [N, C, H, W], as forward takes them); see whitening_kernel.
  void initialize_from_data(const torch::Tensor& images);

  /// The parameters grouped by their layer's lr_multiplier, groups in order of first appearance.
  std::vector<std::pair<double, std::vector<torch::Tensor>>> parameters_by_lr_multiplier() const;
  /// Freezes the layers whose trainable_epochs are over by `epoch` (0-based, the epoch about to
  /// start); returns whether a layer froze now.
  bool freeze_finished_layers(int64_t epoch);

  /// x as for forward → class probabilities [B, num_classes] float32 in [0, 1], rows summing to 1.
  torch::Tensor predict_proba(const torch::Tensor& x);

  /// Σ over layers of λ·Σ(kernel²), Keras' kernel_regularizer=l2(λ); a 0-dim float32 tensor
  /// (zero when no layer has l2).
  torch::Tensor l2_penalty() const;
  /// Whether any layer has an l2 term (l2_penalty() is a constant zero otherwise).
  bool has_l2() const;

  /// Batch normalisation over several processes (SyncBatchNorm): in training, every batch-norm
  /// layer normalises by the statistics of the whole batch across processes, summing its
  /// per-channel sums through `sum_over_processes` (which must be differentiable: its gradient is
  /// the sum of the processes' gradients). An empty function turns it off.
  void synchronize_batch_norm(
      std::function<torch::Tensor(const torch::Tensor&)> sum_over_processes) {
    sum_over_processes_ = std::move(sum_over_processes);
  }

  const ModelSpec& spec() const { return spec_; }
  const std::vector<LayerShape>& shapes() const { return shapes_; }

 private:
  struct Layer {
    const LayerSpec* spec = nullptr;
    torch::nn::AnyModule module;  // empty for flatten
    torch::Tensor kernel;         // the weight that l2 applies to, if any
    bool needs_pad = false;
    std::array<int64_t, 4> pad{0, 0, 0, 0};
    // Batch norm's parameters and statistics, for the synchronised form.
    torch::Tensor weight, bias, running_mean, running_var, batches_tracked;
    double momentum = 0, eps = 0;
  };

  torch::Tensor synchronized_batch_norm(const torch::Tensor& x, Layer& layer);
  /// Layer i (padding, the layer, its activation) applied to x.
  torch::Tensor forward_layer(std::size_t i, torch::Tensor x);

  ModelSpec spec_;
  std::vector<LayerShape> shapes_;
  std::vector<Layer> layers_;
  std::function<torch::Tensor(const torch::Tensor&)> sum_over_processes_;
};
TORCH_MODULE(Network);

}  // namespace cnnlab
