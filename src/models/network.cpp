#include "cnnlab/models/network.h"

#include <algorithm>

namespace cnnlab {

namespace F = torch::nn::functional;

namespace {

// `in_place`: x is a fresh output that no backward function needs (convolution, dense and batch
// norm save their inputs, not their outputs), so ReLU may overwrite it and save an allocation and
// a pass over memory.
torch::Tensor activate(torch::Tensor x, Activation activation, bool is_output, bool in_place) {
  switch (activation) {
    case Activation::kLinear:
      return x;
    case Activation::kRelu:
      return in_place ? torch::relu_(x) : torch::relu(x);
    case Activation::kLeakyRelu:
      return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(0.3));
    case Activation::kElu:
      return F::elu(x);
    case Activation::kGelu:
      return F::gelu(x);
    case Activation::kSigmoid:
      return torch::sigmoid(x);
    case Activation::kTanh:
      return torch::tanh(x);
    case Activation::kSoftmax:
      // The output layer returns logits: the loss applies log-softmax itself (numerically stable,
      // and equal to Keras' softmax + categorical cross-entropy).
      return is_output ? x : torch::softmax(x, 1);
  }
  return x;
}

void glorot_uniform_(torch::Tensor& weight) {
  torch::NoGradGuard no_grad;
  // fan_in/fan_out as Keras computes them: receptive field × in/out channels.
  const int64_t receptive = weight.dim() > 2 ? weight[0][0].numel() : 1;
  const double fan_in = static_cast<double>(weight.size(1) * receptive);
  const double fan_out = static_cast<double>(weight.size(0) * receptive);
  const double limit = std::sqrt(6.0 / (fan_in + fan_out));
  weight.uniform_(-limit, limit);
}

void uniform_(torch::Tensor& weight, double limit) {
  torch::NoGradGuard no_grad;
  weight.uniform_(-limit, limit);
}

void initialize_kernel_(torch::Tensor& weight, Initializer initializer) {
  const int64_t receptive = weight.dim() > 2 ? weight[0][0].numel() : 1;
  const double fan_in = static_cast<double>(weight.size(1) * receptive);
  switch (initializer) {
    case Initializer::kGlorotUniform:
      glorot_uniform_(weight);
      break;
    case Initializer::kHeUniform:
      uniform_(weight, std::sqrt(6.0 / fan_in));
      break;
    case Initializer::kLecunUniform:
      uniform_(weight, std::sqrt(3.0 / fan_in));
      break;
    case Initializer::kPyTorch:
    case Initializer::kWhitening:  // until initialize_from_data() sets it
      uniform_(weight, 1.0 / std::sqrt(fan_in));
      break;
    case Initializer::kDirac: {
      uniform_(weight, 1.0 / std::sqrt(fan_in));
      torch::NoGradGuard no_grad;
      const int64_t n = std::min(weight.size(0), weight.size(1));
      auto identity = weight.slice(0, 0, n);
      identity.zero_();
      const int64_t ch = weight.size(2) / 2, cw = weight.size(3) / 2;
      for (int64_t i = 0; i < n; ++i) identity[i][i][ch][cw] = 1.0;
      break;
    }
  }
}

}  // namespace

torch::Tensor whitening_kernel(const torch::Tensor& images, const std::array<int64_t, 2>& kernel,
                               int64_t filters, double epsilon) {
  torch::NoGradGuard no_grad;
  const int64_t c = images.size(1), kh = kernel[0], kw = kernel[1];
  const int64_t d = c * kh * kw;
  // Every kh×kw patch at stride 1, flattened in the kernel's (channel, row, column) order.
  const auto patches = images.to(torch::kFloat64)
                           .unfold(2, kh, 1)
                           .unfold(3, kw, 1)  // [N, C, H', W', kh, kw]
                           .permute({0, 2, 3, 1, 4, 5})
                           .reshape({-1, d});
  const auto covariance = patches.t().matmul(patches) / static_cast<double>(patches.size(0));
  const auto [eigenvalues, eigenvectors] = torch::linalg_eigh(covariance, "U");
  // Largest eigenvalue first; each eigenvector scaled by 1/√(λ + ε).
  const auto order = torch::arange(d - 1, -1, -1, torch::kLong);
  const auto scale = torch::rsqrt(eigenvalues.index_select(0, order) + epsilon);
  auto rows = eigenvectors.t().index_select(0, order) * scale.unsqueeze(1);
  if (filters == 2 * d) rows = torch::cat(std::vector<torch::Tensor>{rows, rows.neg()});
  return rows.reshape({filters, c, kh, kw}).to(torch::kFloat32);
}

NetworkImpl::NetworkImpl(ModelSpec spec) : spec_(std::move(spec)), shapes_(infer_shapes(spec_)) {
  std::vector<int64_t> in(spec_.input.begin(), spec_.input.end());
  for (std::size_t i = 0; i < spec_.layers.size(); ++i) {
    const LayerSpec& s = spec_.layers[i];
    Layer layer;
    layer.spec = &spec_.layers[i];
    const auto& pad = shapes_[i].pad;
    layer.pad = pad;
    switch (s.type) {
      case LayerType::kConv2d: {
        const bool symmetric = pad[0] == pad[1] && pad[2] == pad[3];
        layer.needs_pad = !symmetric;
        auto options = torch::nn::Conv2dOptions(in[0], s.filters, {s.kernel[0], s.kernel[1]})
                           .stride({s.stride[0], s.stride[1]})
                           .bias(s.use_bias);
        if (symmetric) options.padding(torch::ExpandingArray<2>({pad[2], pad[0]}));
        auto conv = register_module(s.name, torch::nn::Conv2d(options));
        initialize_kernel_(conv->weight, s.kernel_initializer);
        if (s.use_bias) torch::nn::init::zeros_(conv->bias);
        // Channels-last (NHWC) is the layout oneDNN's CPU convolutions, pooling and batch norm
        // run fastest in; a convolution's output takes its weight's layout. contiguous() would
        // keep a one-channel kernel's NCHW strides (they also count as channels-last), so the
        // strides are set explicitly.
        conv->weight.set_data(
            at::empty_like(conv->weight, at::MemoryFormat::ChannelsLast).copy_(conv->weight));
        layer.kernel = conv->weight;
        layer.module = torch::nn::AnyModule(conv);
        break;
      }
      case LayerType::kMaxPool:
      case LayerType::kAvgPool: {
        layer.needs_pad = pad != std::array<int64_t, 4>{0, 0, 0, 0};
        if (s.type == LayerType::kMaxPool) {
          layer.module = torch::nn::AnyModule(register_module(
              s.name, torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions({s.kernel[0], s.kernel[1]})
                                               .stride({s.stride[0], s.stride[1]}))));
        } else {
          layer.module = torch::nn::AnyModule(register_module(
              s.name, torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions({s.kernel[0], s.kernel[1]})
                                               .stride({s.stride[0], s.stride[1]}))));
        }
        break;
      }
      case LayerType::kBatchNorm:
        // Keras' momentum is the share of the running statistics kept; PyTorch's the share
        // replaced.
        layer.momentum = 1 - s.momentum;
        layer.eps = s.epsilon;
        {
          // The layer keeps its batch norm's tensors for the synchronised form.
          const auto keep = [&](const auto& bn) {
            layer.weight = bn->weight, layer.bias = bn->bias;
            layer.running_mean = bn->running_mean, layer.running_var = bn->running_var;
            layer.batches_tracked = bn->num_batches_tracked;
            layer.module = torch::nn::AnyModule(bn);
          };
          const auto options =
              torch::nn::BatchNormOptions(in[0]).momentum(layer.momentum).eps(layer.eps);
          if (in.size() == 3) {
            keep(register_module(s.name, torch::nn::BatchNorm2d(options)));
          } else {
            keep(register_module(s.name, torch::nn::BatchNorm1d(options)));
          }
          // Without center or scale, β stays 0 and γ 1: the weights exist (checkpoints and
          // exports keep their shape) but never train.
          if (!s.scale) layer.weight.set_requires_grad(false);
          if (!s.center) layer.bias.set_requires_grad(false);
        }
        break;
      case LayerType::kRescaling:
        break;
      case LayerType::kDropout:
        layer.module = torch::nn::AnyModule(
            register_module(s.name, torch::nn::Dropout(torch::nn::DropoutOptions(s.rate))));
        break;
      case LayerType::kGlobalAvgPool:
      case LayerType::kGlobalMaxPool:
      case LayerType::kFlatten:
        break;
      case LayerType::kDense: {
        auto linear = register_module(
            s.name, torch::nn::Linear(
                        torch::nn::LinearOptions(in[0], shapes_[i].output[0]).bias(s.use_bias)));
        initialize_kernel_(linear->weight, s.kernel_initializer);
        if (s.use_bias) torch::nn::init::zeros_(linear->bias);
        layer.kernel = linear->weight;
        layer.module = torch::nn::AnyModule(linear);
        break;
      }
    }
    if (!s.trainable || !s.kernel_trainable) {
      if (layer.kernel.defined()) layer.kernel.set_requires_grad(false);
    }
    if (!s.trainable && !layer.module.is_empty()) {
      for (auto& p : layer.module.ptr()->parameters()) p.set_requires_grad(false);
    }
    layers_.push_back(std::move(layer));
    in = shapes_[i].output;
  }
}

torch::Tensor NetworkImpl::forward(const torch::Tensor& input,
                                   std::vector<torch::Tensor>* activations) {
  torch::Tensor x = input.dim() == 4 ? input.contiguous(at::MemoryFormat::ChannelsLast) : input;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    x = forward_layer(i, x);
    if (activations != nullptr) activations->push_back(x);
  }
  return x;
}

torch::Tensor NetworkImpl::forward_layer(std::size_t i, torch::Tensor x) {
  Layer& layer = layers_[i];
  const std::size_t last = layers_.size() - 1;
  {
    if (layer.needs_pad) {
      const auto& p = layer.pad;
      // Max pooling pads with -inf so the padding never wins, as TensorFlow does.
      const double value =
          layer.spec->type == LayerType::kMaxPool ? -std::numeric_limits<double>::infinity() : 0.0;
      x = F::pad(x, F::PadFuncOptions({p[0], p[1], p[2], p[3]}).value(value));
    }
    if (layer.spec->type == LayerType::kFlatten) {
      // Channels last (Keras): a view, since images travel in channels-last memory.
      x = layer.spec->data_format == DataFormat::kChannelsLast && x.dim() == 4
              ? x.permute({0, 2, 3, 1}).flatten(1)
              : x.flatten(1);
    } else if (layer.spec->type == LayerType::kGlobalAvgPool) {
      x = x.mean({2, 3});
    } else if (layer.spec->type == LayerType::kGlobalMaxPool) {
      x = x.amax({2, 3});
    } else if (layer.spec->type == LayerType::kRescaling) {
      x = layer.spec->offset == 0 ? x * layer.spec->scale_factor
                                  : x * layer.spec->scale_factor + layer.spec->offset;
    } else if (layer.spec->type == LayerType::kBatchNorm && sum_over_processes_ && is_training()) {
      x = synchronized_batch_norm(x, layer);
    } else {
      x = layer.module.forward(x);
    }
    const LayerType type = layer.spec->type;
    const bool fresh =
        type == LayerType::kConv2d || type == LayerType::kDense || type == LayerType::kBatchNorm;
    x = activate(x, layer.spec->activation, i == last, fresh);
  }
  return x;
}

// Batch norm in training over the whole batch of all processes: per-channel sums and sums of
// squares (and the image count) summed over the processes, the biased variance for
// normalising and the unbiased one for the running statistics, as torch.nn.SyncBatchNorm does.
torch::Tensor NetworkImpl::synchronized_batch_norm(const torch::Tensor& x, Layer& layer) {
  const bool image = x.dim() == 4;
  const std::vector<int64_t> dims = image ? std::vector<int64_t>{0, 2, 3} : std::vector<int64_t>{0};
  const auto xf = x.to(torch::kFloat32);
  const int64_t channels = x.size(1);
  const double local = static_cast<double>(x.numel() / std::max<int64_t>(channels, 1));
  const auto stats = sum_over_processes_(
      torch::cat({xf.sum(dims), (xf * xf).sum(dims), torch::full({1}, local, xf.options())}));
  const auto count = stats.slice(0, 2 * channels, 2 * channels + 1);
  const auto mean = stats.slice(0, 0, channels) / count;
  const auto var = stats.slice(0, channels, 2 * channels) / count - mean * mean;
  const std::vector<int64_t> shape =
      image ? std::vector<int64_t>{1, channels, 1, 1} : std::vector<int64_t>{1, channels};
  const auto y = (xf - mean.view(shape)) * torch::rsqrt(var + layer.eps).view(shape) *
                     layer.weight.view(shape) +
                 layer.bias.view(shape);
  {
    torch::NoGradGuard no_grad;
    const double n = count.item<double>();
    const double m = layer.momentum;
    layer.running_mean.mul_(1 - m).add_(mean.detach(), m);
    layer.running_var.mul_(1 - m).add_(var.detach() * (n / std::max(n - 1, 1.0)), m);
    layer.batches_tracked.add_(1);
  }
  return y.to(x.scalar_type());
}

std::vector<std::pair<double, std::vector<torch::Tensor>>>
NetworkImpl::parameters_by_lr_multiplier() const {
  std::vector<std::pair<double, std::vector<torch::Tensor>>> groups;
  for (const Layer& layer : layers_) {
    if (layer.module.is_empty() || layer.module.ptr()->parameters().empty()) continue;
    const double multiplier = layer.spec->lr_multiplier;
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const auto& g) { return g.first == multiplier; });
    if (group == groups.end()) group = groups.insert(groups.end(), {multiplier, {}});
    for (const auto& p : layer.module.ptr()->parameters()) group->second.push_back(p);
  }
  return groups;
}

bool NetworkImpl::freeze_finished_layers(int64_t epoch) {
  bool froze = false;
  for (Layer& layer : layers_) {
    const int64_t epochs = layer.spec->trainable_epochs;
    if (epochs == 0 || epoch < epochs || layer.module.is_empty()) continue;
    for (auto& p : layer.module.ptr()->parameters()) {
      if (!p.requires_grad()) continue;
      p.set_requires_grad(false);
      p.mutable_grad().reset();
      froze = true;
    }
  }
  return froze;
}

bool NetworkImpl::needs_data_initialization() const {
  for (const Layer& layer : layers_) {
    if (layer.spec->type == LayerType::kConv2d &&
        layer.spec->kernel_initializer == Initializer::kWhitening) {
      return true;
    }
  }
  return false;
}

void NetworkImpl::initialize_from_data(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();
  torch::Tensor x = images.to(torch::kFloat32).contiguous(at::MemoryFormat::ChannelsLast);
  const std::size_t last = layers_.size() - 1;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = layers_[i];
    if (layer.spec->type == LayerType::kConv2d &&
        layer.spec->kernel_initializer == Initializer::kWhitening) {
      layer.kernel.copy_(whitening_kernel(x, layer.spec->kernel, layer.spec->filters));
    }
    if (i < last) x = forward_layer(i, x);
  }
  train(was_training);
}

torch::Tensor NetworkImpl::predict_proba(const torch::Tensor& x) {
  return torch::softmax(forward(x), 1);
}

bool NetworkImpl::has_l2() const {
  for (const Layer& layer : layers_) {
    if (layer.spec->l2 > 0 && layer.kernel.defined()) return true;
  }
  return false;
}

torch::Tensor NetworkImpl::l2_penalty() const {
  torch::Tensor total;
  for (const Layer& layer : layers_) {
    if (layer.spec->l2 > 0 && layer.kernel.defined()) {
      const auto term = layer.spec->l2 * layer.kernel.pow(2).sum();
      total = total.defined() ? total + term : term;
    }
  }
  return total.defined() ? total : torch::zeros({}, torch::kFloat32);
}

}  // namespace cnnlab
