"""Adversarial losses: hinge (SN-GAN; DeepGIN, GAIN) and binary cross-entropy (GLCIC, cascade).

Multi-scale discriminators: every function accepts one tensor or a list of tensors (one per
scale). Within a scale the loss is averaged over all elements (batch and patch positions);
across scales the per-scale losses are *summed* (DeepGIN sums over its two scales). Outputs are
cast to float32 first.
"""

import keras
from keras import ops

from tfinpaint.losses._checks import as_list, f32


def _sum_over_scales(outputs, per_scale):
    outputs = as_list(outputs)
    if not outputs:
        raise ValueError("adversarial loss got an empty list of outputs; expected at least one.")
    total = ops.convert_to_tensor(0.0, "float32")
    for x in outputs:
        total = total + per_scale(f32(x))
    return total


def hinge_d_loss(real_logits, fake_logits):
    """Hinge discriminator loss: `mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))`.

    Lim & Ye 2017 / Miyato et al. 2018 (SN-GAN); used by DeepGIN and GAIN. Lists (one tensor per
    discriminator scale) are summed over scales.

    Args:
        real_logits: tensor or list of tensors. Raw scores on real images.
        fake_logits: tensor or list of tensors. Raw scores on generated images.

    Returns:
        float32 scalar.
    """
    real = _sum_over_scales(real_logits, lambda x: ops.mean(ops.relu(1.0 - x)))
    fake = _sum_over_scales(fake_logits, lambda x: ops.mean(ops.relu(1.0 + x)))
    return real + fake


def hinge_g_loss(fake_logits):
    """Hinge generator loss: `-mean(D(G(z)))`, summed over scales for lists."""
    return _sum_over_scales(fake_logits, lambda x: -ops.mean(x))


def _neg_log_sigmoid(x, from_logits):
    # -log(D) with D = sigmoid(x) (stable: softplus(-x)) or D given as a probability (clipped).
    if from_logits:
        return ops.softplus(-x)
    eps = keras.config.epsilon()
    return -ops.log(ops.clip(x, eps, 1.0 - eps))


def _neg_log_one_minus(x, from_logits):
    # -log(1 - D): softplus(x) for logits.
    if from_logits:
        return ops.softplus(x)
    eps = keras.config.epsilon()
    return -ops.log(1.0 - ops.clip(x, eps, 1.0 - eps))


def bce_d_loss(real_outputs, fake_outputs, *, from_logits):
    """Binary cross-entropy discriminator loss: `-mean(log D(x)) - mean(log(1 - D(G(z))))`.

    Goodfellow et al. 2014; GLCIC (Iizuka et al. 2017, eq. 2) and the cascade generator. The two
    halves are added (not averaged). Probabilities are clipped to [eps, 1 - eps] with
    `keras.config.epsilon()`; logits use the stable softplus form. Lists are summed over scales.

    Args:
        real_outputs: tensor or list of tensors. D on real images.
        fake_outputs: tensor or list of tensors. D on generated images.
        from_logits: bool (keyword, required). True for raw scores, False for probabilities.

    Returns:
        float32 scalar.
    """
    real = _sum_over_scales(real_outputs, lambda x: ops.mean(_neg_log_sigmoid(x, from_logits)))
    fake = _sum_over_scales(fake_outputs, lambda x: ops.mean(_neg_log_one_minus(x, from_logits)))
    return real + fake


def bce_g_loss(fake_outputs, *, from_logits):
    """Non-saturating generator loss: `-mean(log D(G(z)))` (Goodfellow et al. 2014, section 3).

    Used in place of the minimax `log(1 - D(G(z)))` (the cascade generator's paper form), whose
    gradient vanishes while D rejects the samples. Lists are summed over scales.

    Args:
        fake_outputs: tensor or list of tensors. D on generated images.
        from_logits: bool (keyword, required). True for raw scores, False for probabilities.

    Returns:
        float32 scalar.
    """
    return _sum_over_scales(fake_outputs, lambda x: ops.mean(_neg_log_sigmoid(x, from_logits)))
