# Type stubs of kelvin.torch (issue 10): the losses of kelvin.losses as
# PyTorch autograd functions on CPU tensors; the temperature may be a tensor
# that requires grad. Each returns the loss as a tensor.
from typing import Literal

import torch

_Scalar = float | torch.Tensor

def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, temperature: _Scalar = 1.0,
                  reduction: Literal["mean", "sum", "none"] = "mean", ignore_index: int = -100,
                  label_smoothing: float = 0.0) -> torch.Tensor: ...
def distillation(student: torch.Tensor, teacher: torch.Tensor,
                 labels: torch.Tensor | None = None, temperature: _Scalar = 4.0,
                 alpha: float = 0.5) -> torch.Tensor: ...
def info_nce(logits: torch.Tensor, temperature: _Scalar = 0.07) -> torch.Tensor: ...
def info_nce_embeddings(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor,
                        temperature: _Scalar = 0.07, normalize: bool = True) -> torch.Tensor: ...
def clip(image_features: torch.Tensor, text_features: torch.Tensor,
         log_scale: _Scalar) -> torch.Tensor: ...
def cosine_softmax(features: torch.Tensor, weights: torch.Tensor, labels: torch.Tensor,
                   scale: _Scalar = 30.0, margin: float = 0.0,
                   margin_type: Literal["none", "cosface", "arcface"] = "none") -> torch.Tensor: ...
