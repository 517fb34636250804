"""Input checks and small helpers shared by the loss modules (private to `tfinpaint.losses`).

Each check raises a ValueError in one sentence that names the loss (`where`) and what it
expected. `check_hole_mask` is also re-exported publicly: family totals outside this package
(e.g. `tfinpaint.training.pconv.PConvLoss`) check their masks with it.
"""

from keras import ops


def f32(x):
    return ops.cast(x, "float32")


def check_rank4(x, name, where):
    if len(x.shape) != 4:
        raise ValueError(
            f"{where} got {name} of shape {tuple(x.shape)}; expected a 4-D (B, H, W, C) tensor."
        )


def check_same_shape(a, b, where):
    known = all(d is not None for d in tuple(a.shape) + tuple(b.shape))
    if known and tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{where} got y_true of shape {tuple(a.shape)} and y_pred of shape "
            f"{tuple(b.shape)}; expected equal shapes."
        )


def check_hole_mask(hole_mask, where):
    """Raises a ValueError naming `where` unless `hole_mask` is (B, H, W, 1)."""
    check_rank4(hole_mask, "hole_mask", where)
    if hole_mask.shape[-1] != 1:
        raise ValueError(
            f"{where} got hole_mask of shape {tuple(hole_mask.shape)}; expected (B, H, W, 1)."
        )


def as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def per_layer_weights(layer_weights, num_layers, where):
    if layer_weights is None:
        return [1.0] * num_layers
    layer_weights = list(layer_weights)
    if len(layer_weights) != num_layers:
        raise ValueError(
            f"{where} got {len(layer_weights)} layer_weights for {num_layers} feature maps; "
            "expected one weight per feature map."
        )
    return [float(w) for w in layer_weights]


def paired_features(feats_a, feats_b, where):
    feats_a, feats_b = as_list(feats_a), as_list(feats_b)
    if len(feats_a) != len(feats_b) or not feats_a:
        raise ValueError(
            f"{where} got {len(feats_a)} and {len(feats_b)} feature maps; expected two equally "
            "long, non-empty lists."
        )
    return feats_a, feats_b
