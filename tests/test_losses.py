"""Tests for tfinpaint.losses: each term against a small case computed by hand or in numpy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import losses
from tfinpaint.training.pconv import PConvLoss

RNG = np.random.default_rng(0)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# A 1x2x2x3 case for the reconstruction losses: y_true = 0, holes at (0, 0) and (1, 1).
Y_PRED = np.array(
    [[[[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]], [[0.5, 0.5, 0.5], [0.0, 0.0, 2.0]]]], "float32"
)
Y_TRUE = np.zeros_like(Y_PRED)
HOLE = np.array([[[[1.0], [0.0]], [[0.0], [1.0]]]], "float32")


# === Reconstruction ===
def test_hole_and_valid_l1_normalise_by_image_element_count():
    # |hole * diff| sums to 1+2+3 + 0+0+2 = 8, |valid * diff| to 1+0+1 + 3*0.5 = 3.5; N = 12.
    assert _np(losses.hole_l1(Y_TRUE, Y_PRED, HOLE)) == pytest.approx(8.0 / 12.0)
    assert _np(losses.valid_l1(Y_TRUE, Y_PRED, HOLE)) == pytest.approx(3.5 / 12.0)


def test_hole_and_valid_l1_match_numpy_on_random_arrays():
    y_true = RNG.random((2, 4, 4, 3), dtype="float32")
    y_pred = RNG.random((2, 4, 4, 3), dtype="float32")
    hole = (RNG.random((2, 4, 4, 1)) > 0.5).astype("float32")
    expected_hole = np.abs(hole * (y_pred - y_true)).sum() / y_true.size
    expected_valid = np.abs((1 - hole) * (y_pred - y_true)).sum() / y_true.size
    assert _np(losses.hole_l1(y_true, y_pred, hole)) == pytest.approx(expected_hole, rel=1e-6)
    assert _np(losses.valid_l1(y_true, y_pred, hole)) == pytest.approx(expected_valid, rel=1e-6)


def test_hole_normalised_l1_and_mse_divide_by_the_hole_elements():
    # 2 hole pixels x 3 channels = 6 hole elements. L1: 8 / 6. MSE: (1+4+9 + 4) / 6 = 3.
    assert _np(losses.hole_normalised_l1(Y_TRUE, Y_PRED, HOLE)) == pytest.approx(8.0 / 6.0)
    assert _np(losses.hole_normalised_mse(Y_TRUE, Y_PRED, HOLE)) == pytest.approx(3.0)
    assert _np(losses.masked_mse(Y_TRUE, Y_PRED, HOLE)) == pytest.approx(3.0)
    # Whole image: (14 + 2 + 0.75 + 4) / 12.
    assert _np(losses.masked_mse(Y_TRUE, Y_PRED, HOLE, region="image")) == pytest.approx(
        20.75 / 12.0
    )


def test_hole_normalised_l1_pools_over_the_batch_and_guards_empty_masks():
    # A second sample without holes but with large errors changes neither sum.
    y_pred = np.concatenate([Y_PRED, np.full_like(Y_PRED, 9.0)])
    y_true = np.zeros_like(y_pred)
    hole = np.concatenate([HOLE, np.zeros_like(HOLE)])
    assert _np(losses.hole_normalised_l1(y_true, y_pred, hole)) == pytest.approx(8.0 / 6.0)
    # A hole-free batch gives 0, not NaN.
    empty = np.zeros_like(hole)
    for fn in (losses.hole_normalised_l1, losses.hole_normalised_mse, losses.masked_mse):
        value = _np(fn(y_true, y_pred, empty))
        assert np.isfinite(value) and value == 0.0


def test_hole_normalised_gradients_are_finite_without_holes():
    y_pred = tf.Variable(Y_PRED)
    with tf.GradientTape() as tape:
        value = losses.hole_normalised_l1(Y_TRUE, y_pred, np.zeros_like(HOLE))
    grad = _np(tape.gradient(value, y_pred))
    assert np.all(np.isfinite(grad)) and np.all(grad == 0)


def test_masked_mse_rejects_unknown_region_and_bad_mask():
    with pytest.raises(ValueError, match="region"):
        losses.masked_mse(Y_TRUE, Y_PRED, HOLE, region="everywhere")
    with pytest.raises(ValueError, match="hole_mask"):
        losses.hole_l1(Y_TRUE, Y_PRED, np.ones((1, 2, 2, 3), "float32"))
    with pytest.raises(ValueError, match="y_pred"):
        losses.hole_l1(Y_TRUE, Y_PRED[:, :1], HOLE)


def test_hole_feature_loss_resizes_the_mask_to_each_feature_map():
    hole = np.zeros((1, 4, 4, 1), "float32")
    hole[0, 0, 0, 0] = 1.0  # one hole pixel -> a 0.25 hole fraction in the 2x2 map's cell (0, 0)
    full_a = np.zeros((1, 4, 4, 2), "float32")
    full_a[0, 0, 0] = [3.0, 1.0]  # hole elements: 2 -> mse (9 + 1) / 2 = 5, l1 (3 + 1) / 2 = 2
    full_a[0, 3, 3] = [100.0, 100.0]  # outside the hole: ignored
    half_a = np.array([[[[2.0], [5.0]], [[7.0], [1.0]]]], "float32")  # mse 0.25*4/0.25 = 4
    feats_a, feats_b = [full_a, half_a], [np.zeros_like(full_a), np.zeros_like(half_a)]
    assert _np(losses.hole_feature_loss(feats_a, feats_b, hole)) == pytest.approx(5.0 + 4.0)
    assert _np(
        losses.hole_feature_loss(feats_a, feats_b, hole, distance="l1", layer_weights=[1.0, 0.5])
    ) == pytest.approx(2.0 + 0.5 * 2.0)


# === Perceptual and style ===
GRAM_FEATURES = np.arange(1, 9, dtype="float32").reshape(1, 2, 2, 2)  # F rows (1,2) ... (7,8)


def test_gram_matrix_values_and_normalisation():
    # F^T F = [[84, 100], [100, 120]], divided by C*H*W = 8.
    gram = _np(losses.gram_matrix(GRAM_FEATURES))
    np.testing.assert_allclose(gram, [[[10.5, 12.5], [12.5, 15.0]]], rtol=1e-6)
    feats = RNG.standard_normal((2, 3, 5, 4)).astype("float32")
    flat = feats.reshape(2, 15, 4)
    expected = np.einsum("bnc,bnd->bcd", flat, flat) / (3 * 5 * 4)
    np.testing.assert_allclose(_np(losses.gram_matrix(feats)), expected, rtol=1e-5, atol=1e-6)


def test_gram_matrix_of_float16_is_float32_without_overflow():
    # Each entry sums 256 products of 300 * 300 = 2.3e7, beyond float16's 65504.
    feats = np.full((1, 16, 16, 4), 300.0, "float16")
    gram = losses.gram_matrix(tf.constant(feats))
    assert gram.dtype == tf.float32
    np.testing.assert_allclose(_np(gram), np.full((1, 4, 4), 300.0**2 / 4), rtol=1e-6)


def test_perceptual_loss_on_feature_lists():
    feats_a = [np.ones((1, 2, 2, 1), "float32"), np.zeros((1, 1, 1, 2), "float32")]
    feats_b = [np.zeros((1, 2, 2, 1), "float32"), np.array([[[[3.0, -1.0]]]], "float32")]
    # Layer means: 1 and (3 + 1) / 2 = 2.
    assert _np(losses.perceptual_loss(feats_a, feats_b)) == pytest.approx(3.0)
    assert _np(losses.perceptual_loss(feats_a, feats_b, [0.5, 2.0])) == pytest.approx(4.5)
    with pytest.raises(ValueError, match="layer_weights"):
        losses.perceptual_loss(feats_a, feats_b, [1.0])
    with pytest.raises(ValueError, match="feature maps"):
        losses.perceptual_loss(feats_a, feats_b[:1])


def test_style_loss_l1_and_mse_on_gram_matrices():
    zeros = np.zeros_like(GRAM_FEATURES)
    # Gram difference [[10.5, 12.5], [12.5, 15]]: L1 mean 50.5 / 4, MSE mean 647.75 / 4.
    assert _np(losses.style_loss([GRAM_FEATURES], [zeros])) == pytest.approx(50.5 / 4)
    assert _np(losses.style_loss([GRAM_FEATURES], [zeros], distance="mse")) == pytest.approx(
        647.75 / 4
    )
    two = losses.style_loss([GRAM_FEATURES, GRAM_FEATURES], [zeros, zeros], layer_weights=[1, 3])
    assert _np(two) == pytest.approx(4 * 50.5 / 4)
    with pytest.raises(ValueError, match="distance"):
        losses.style_loss([GRAM_FEATURES], [zeros], distance="cosine")


# === Total variation ===
def _tv_reference(image, hole):
    """Loop version of PConv eq. 7: pairs with both pixels in the 1-px (8-neighbour) dilation."""
    _, height, width, _ = image.shape
    total = 0.0
    for b in range(image.shape[0]):
        region = np.zeros((height, width), bool)
        for i in range(height):
            for j in range(width):
                region[i, j] = hole[b, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2].max() > 0
        for i in range(height):
            for j in range(width):
                if j + 1 < width and region[i, j] and region[i, j + 1]:
                    total += np.abs(image[b, i, j + 1] - image[b, i, j]).sum()
                if i + 1 < height and region[i, j] and region[i + 1, j]:
                    total += np.abs(image[b, i + 1, j] - image[b, i, j]).sum()
    return total / image.size


def test_tv_loss_dilated_hole_on_a_5x5_example_by_hand():
    image = np.arange(25, dtype="float32").reshape(1, 5, 5, 1)  # I(i, j) = 5 i + j
    hole = np.zeros((1, 5, 5, 1), "float32")
    hole[0, 2, 2] = 1.0
    # P = rows 1-3 x cols 1-3: 6 horizontal pairs of difference 1, 6 vertical of 5; N = 25.
    assert _np(losses.tv_loss_dilated_hole(image, hole)) == pytest.approx(36.0 / 25.0)
    # Three equal channels: sums and N both triple.
    image3 = np.repeat(image, 3, axis=-1)
    assert _np(losses.tv_loss_dilated_hole(image3, hole)) == pytest.approx(36.0 / 25.0)
    # Corner hole: P = rows 0-1 x cols 0-1, 2 horizontal + 2 vertical pairs: (2 + 10) / 25.
    corner = np.zeros((1, 5, 5, 1), "float32")
    corner[0, 0, 0] = 1.0
    assert _np(losses.tv_loss_dilated_hole(image, corner)) == pytest.approx(12.0 / 25.0)


def test_tv_loss_dilated_hole_matches_the_loop_reference():
    image = RNG.random((2, 6, 7, 3), dtype="float32")
    hole = (RNG.random((2, 6, 7, 1)) > 0.8).astype("float32")
    expected = _tv_reference(image, hole)
    assert _np(losses.tv_loss_dilated_hole(image, hole)) == pytest.approx(expected, rel=1e-5)


def test_tv_loss_squared_by_hand():
    image = np.array([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]], "float32").reshape(1, 2, 3, 1)
    # Horizontal squares 1, 4, 0, 0 (mean 5/4); vertical 4, 1, 1 (mean 2).
    assert _np(losses.tv_loss_squared(image)) == pytest.approx(1.25 + 2.0)


# === Adversarial ===
def test_hinge_losses_match_numpy_and_sum_over_scales():
    real = [RNG.standard_normal((2, 4, 4, 1)), RNG.standard_normal((2, 2, 2, 1))]
    fake = [RNG.standard_normal((2, 4, 4, 1)), RNG.standard_normal((2, 2, 2, 1))]
    real = [r.astype("float32") for r in real]
    fake = [f.astype("float32") for f in fake]
    per_scale = [
        np.maximum(1 - r, 0).mean() + np.maximum(1 + f, 0).mean() for r, f in zip(real, fake)
    ]
    assert _np(losses.hinge_d_loss(real[0], fake[0])) == pytest.approx(per_scale[0], rel=1e-6)
    assert _np(losses.hinge_d_loss(real, fake)) == pytest.approx(sum(per_scale), rel=1e-6)
    expected_g = -fake[0].mean() - fake[1].mean()
    assert _np(losses.hinge_g_loss(fake)) == pytest.approx(expected_g, rel=1e-5)
    # Hand case: real 2 -> relu(-1) = 0; fake -0.5 -> relu(0.5) = 0.5.
    assert _np(losses.hinge_d_loss(np.array([2.0]), np.array([-0.5]))) == pytest.approx(0.5)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_bce_losses_match_numpy_for_probabilities_and_logits():
    real_logits = RNG.standard_normal((3, 1)).astype("float32")
    fake_logits = RNG.standard_normal((3, 1)).astype("float32")
    sig = _sigmoid
    expected_d = -np.log(sig(real_logits)).mean() - np.log(1 - sig(fake_logits)).mean()
    expected_g = -np.log(sig(fake_logits)).mean()
    d_logits = losses.bce_d_loss(real_logits, fake_logits, from_logits=True)
    d_probs = losses.bce_d_loss(sig(real_logits), sig(fake_logits), from_logits=False)
    assert _np(d_logits) == pytest.approx(expected_d, rel=1e-5)
    assert _np(d_probs) == pytest.approx(expected_d, rel=1e-5)
    assert _np(losses.bce_g_loss(fake_logits, from_logits=True)) == pytest.approx(expected_g, 1e-5)
    assert _np(losses.bce_g_loss(sig(fake_logits), from_logits=False)) == pytest.approx(
        expected_g, rel=1e-5
    )
    # Hand case: D(x) = 0.5 for both -> 2 log 2; lists are summed over scales.
    half = np.array([0.5], "float32")
    assert _np(losses.bce_d_loss(half, half, from_logits=False)) == pytest.approx(2 * np.log(2))
    assert _np(losses.bce_g_loss([half, half], from_logits=False)) == pytest.approx(2 * np.log(2))
    # Saturated logits stay finite.
    big = np.array([80.0], "float32")
    assert np.isfinite(_np(losses.bce_d_loss(-big, big, from_logits=True)))
    assert _np(losses.bce_d_loss(-big, big, from_logits=True)) == pytest.approx(160.0)


# === float16 inputs and tf.function ===
_F16_CASES = {
    "hole_l1": lambda a, b, m: losses.hole_l1(a, b, m),
    "valid_l1": lambda a, b, m: losses.valid_l1(a, b, m),
    "hole_normalised_l1": lambda a, b, m: losses.hole_normalised_l1(a, b, m),
    "masked_mse": lambda a, b, m: losses.masked_mse(a, b, m),
    "hole_feature_loss": lambda a, b, m: losses.hole_feature_loss([a], [b], m),
    "perceptual": lambda a, b, m: losses.perceptual_loss([a], [b]),
    "style": lambda a, b, m: losses.style_loss([a * 200], [b * 200], distance="mse"),
    "tv_dilated": lambda a, b, m: losses.tv_loss_dilated_hole(a, m),
    "tv_squared": lambda a, b, m: losses.tv_loss_squared(a),
    "hinge_d": lambda a, b, m: losses.hinge_d_loss(a, [b, b]),
    "hinge_g": lambda a, b, m: losses.hinge_g_loss(b),
    "bce_d": lambda a, b, m: losses.bce_d_loss(a, b, from_logits=True),
    "bce_g": lambda a, b, m: losses.bce_g_loss(b, from_logits=True),
    "pconv": lambda a, b, m: PConvLoss(None)(a, b, m)["total"],
}


@pytest.mark.parametrize("name", sorted(_F16_CASES))
def test_losses_return_float32_scalars_for_float16_inside_tf_function(name):
    fn = _F16_CASES[name]
    a = RNG.random((2, 8, 8, 3), dtype="float32")
    b = RNG.random((2, 8, 8, 3), dtype="float32")
    m = (RNG.random((2, 8, 8, 1)) > 0.5).astype("float32")
    eager = fn(a, b, m)
    graph = tf.function(fn)(
        tf.constant(a, tf.float16), tf.constant(b, tf.float16), tf.constant(m, tf.float16)
    )
    assert graph.dtype == tf.float32 and graph.shape == ()
    assert np.isfinite(_np(graph))
    # Float16 rounding of the inputs only (the style case squares Gram entries of ~1e4).
    assert _np(graph) == pytest.approx(_np(eager), rel=2e-2)


# === VGG features ===
@pytest.fixture(scope="module")
def vgg16_pool():
    return losses.VGGFeatures("vgg16", losses.VGG16_POOL_LAYERS, weights=None)


@pytest.fixture(scope="module")
def vgg19_deepgin():
    vgg = losses.VGGFeatures("vgg19", losses.VGG19_DEEPGIN_LAYERS, weights=None)
    # Non-zero biases so that the pre-activation tap must add them.
    conv = vgg.backbone.get_layer("block5_conv1")
    conv.bias.assign(RNG.standard_normal(conv.bias.shape).astype("float32") * 0.1)
    return vgg


def test_vgg16_pool_layers_names_shapes_and_frozen(vgg16_pool):
    feats = vgg16_pool(RNG.random((2, 32, 32, 3), dtype="float32"))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 16, 64), (2, 8, 8, 128), (2, 4, 4, 256)]
    assert all(f.dtype == tf.float32 for f in feats)
    assert vgg16_pool.layer_names == ("block1_pool", "block2_pool", "block3_pool")
    assert vgg16_pool.trainable_weights == []
    assert len(vgg16_pool.non_trainable_weights) > 0
    # Frozen weights, but gradients still reach the input image (perceptual losses need them).
    image = tf.Variable(RNG.random((1, 32, 32, 3), dtype="float32"))
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(vgg16_pool(image)[-1])
    assert float(tf.reduce_sum(tf.abs(tape.gradient(value, image)))) > 0


def test_vgg19_layer_lists_shapes():
    vgg = losses.VGGFeatures("vgg19", losses.VGG19_CASCADE_LAYERS, weights=None)
    feats = vgg(RNG.random((1, 32, 32, 3), dtype="float32"))
    assert [tuple(f.shape) for f in feats] == [
        (1, 32, 32, 64),
        (1, 16, 16, 128),
        (1, 8, 8, 256),
        (1, 4, 4, 512),
        (1, 2, 2, 512),
    ]
    assert vgg.trainable_weights == []


def test_vgg19_deepgin_resizes_to_input_size(vgg19_deepgin):
    # Symbolic call at the paper's 224: shapes only, no computation.
    vgg = losses.VGGFeatures(
        "vgg19", losses.VGG19_DEEPGIN_LAYERS, weights=None, input_size=losses.DEEPGIN_VGG_INPUT_SIZE
    )
    feats = vgg(keras.Input((256, 256, 3)))
    assert [tuple(f.shape) for f in feats] == [
        (None, 224, 224, 64),
        (None, 112, 112, 128),
        (None, 56, 56, 256),
        (None, 28, 28, 512),
        (None, 14, 14, 512),
    ]
    # Eager: resizing a 48 px image to 32 equals resizing first, then extracting at 32.
    small = losses.VGGFeatures("vgg19", ("block2_conv1",), weights=None, input_size=(32, 32))
    small.backbone.set_weights(vgg19_deepgin.backbone.get_weights())
    image = RNG.random((1, 48, 48, 3), dtype="float32")
    resized = tf.image.resize(image, (32, 32), method="bilinear")
    np.testing.assert_allclose(
        _np(small(image)[0]), _np(vgg19_deepgin(resized)[1]), rtol=1e-4, atol=1e-4
    )


def test_vgg_preprocess_is_keras_caffe_normalisation():
    images = RNG.random((2, 4, 4, 3), dtype="float32")
    manual = images[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], "float32")
    np.testing.assert_allclose(_np(losses.vgg_preprocess(images)), manual, rtol=1e-5, atol=1e-4)
    keras_ref = keras.applications.vgg16.preprocess_input(images * 255.0)
    np.testing.assert_allclose(
        _np(losses.vgg_preprocess(images)), _np(keras_ref), rtol=1e-5, atol=1e-4
    )


def _conv3x3_same(x, kernel, bias):
    """numpy 3x3 'same' convolution (cross-correlation, as Keras), (B,H,W,Ci) -> (B,H,W,Co)."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    height, width = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],), "float64")
    for di in range(3):
        for dj in range(3):
            out += np.einsum(
                "bhwi,io->bhwo", padded[:, di : di + height, dj : dj + width], kernel[di, dj]
            )
    return out + bias


def test_vgg_first_conv_sees_imagenet_normalised_input():
    vgg = losses.VGGFeatures("vgg16", ("block1_conv1",), weights=None)
    conv = vgg.backbone.get_layer("block1_conv1")
    bias = RNG.standard_normal(64).astype("float32")
    conv.bias.assign(bias)
    images = RNG.random((1, 8, 8, 3), dtype="float32")
    bgr = images[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68])
    expected = np.maximum(_conv3x3_same(bgr, _np(conv.kernel).astype("float64"), bias), 0)
    np.testing.assert_allclose(_np(vgg(images)[0]), expected, rtol=1e-4, atol=1e-2)


def test_deepgin_conv5_1_tap_is_pre_activation(vgg19_deepgin):
    images = RNG.random((2, 32, 32, 3), dtype="float32")
    relu4_1, conv5_1 = [_np(f) for f in vgg19_deepgin(images)[3:]]
    assert conv5_1.shape == (2, 2, 2, 512)
    assert conv5_1.min() < 0  # a ReLU output could not be negative
    # Independently: block4_pool features through block5_conv1's kernel and bias, no ReLU.
    pool4 = losses.VGGFeatures("vgg19", ("block4_pool",), weights=None)
    pool4.backbone.set_weights(vgg19_deepgin.backbone.get_weights())
    conv = vgg19_deepgin.backbone.get_layer("block5_conv1")
    expected = _conv3x3_same(
        _np(pool4(images)[0]).astype("float64"), _np(conv.kernel), _np(conv.bias)
    )
    np.testing.assert_allclose(conv5_1, expected, rtol=1e-4, atol=1e-3)
    # And the ReLU of the tap is what Keras' fused layer returns.
    relu5_1 = losses.VGGFeatures("vgg19", ("block5_conv1",), weights=None)
    relu5_1.backbone.set_weights(vgg19_deepgin.backbone.get_weights())
    np.testing.assert_allclose(
        np.maximum(conv5_1, 0), _np(relu5_1(images)[0]), rtol=1e-5, atol=1e-4
    )
    assert relu4_1.min() >= 0


def test_vgg_weights_file_written_by_the_test_is_loaded(tmp_path, vgg16_pool):
    path = tmp_path / "vgg16_notop.weights.h5"
    vgg16_pool.backbone.save_weights(str(path))
    loaded = losses.VGGFeatures("vgg16", losses.VGG16_POOL_LAYERS, weights=str(path))
    fresh = losses.VGGFeatures("vgg16", losses.VGG16_POOL_LAYERS, weights="none")
    images = RNG.random((1, 32, 32, 3), dtype="float32")
    for a, b in zip(vgg16_pool(images), loaded(images)):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6, atol=1e-6)
    assert not np.allclose(_np(vgg16_pool(images)[0]), _np(fresh(images)[0]))


def test_vgg_legacy_notop_h5_file_is_loaded(tmp_path, vgg16_pool):
    # The layout of Keras' cached ImageNet file (vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5),
    # which offline machines can copy and pass by path; written here with h5py.
    h5py = pytest.importorskip(
        "h5py", reason="writes a Keras-layout .h5 file; h5py comes with Keras"
    )
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in vgg16_pool.backbone.layers]
        for layer in vgg16_pool.backbone.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{v.name}:0" for v in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, variable in zip(names, layer.weights):
                group.create_dataset(name, data=_np(variable))
    loaded = losses.VGGFeatures("vgg16", losses.VGG16_POOL_LAYERS, weights=str(path))
    images = RNG.random((1, 32, 32, 3), dtype="float32")
    for a, b in zip(vgg16_pool(images), loaded(images)):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6, atol=1e-6)


def test_vgg_imagenet_weights_are_requested_from_keras(monkeypatch):
    calls = []
    original = keras.applications.VGG16

    def fake_vgg16(**kwargs):
        calls.append(kwargs)
        return original(**{**kwargs, "weights": None})  # no download here

    monkeypatch.setattr(keras.applications, "VGG16", fake_vgg16)
    vgg = losses.VGGFeatures("vgg16", ("block1_pool",))  # default weights="imagenet"
    assert calls[0]["weights"] == "imagenet" and calls[0]["include_top"] is False
    assert vgg.weights_source == "imagenet"


def test_vgg_features_stay_float32_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        vgg = losses.VGGFeatures("vgg16", ("block2_pool",), weights=None)
        assert keras.config.dtype_policy().name == "mixed_float16"  # restored after the build
        feats = vgg(tf.constant(RNG.random((1, 32, 32, 3)), tf.float16))
    finally:
        keras.config.set_dtype_policy(previous)
    assert feats[0].dtype == tf.float32
    assert all(w.dtype == "float32" for w in vgg.weights)


def test_vgg_features_reject_bad_arguments():
    with pytest.raises(ValueError, match="arch"):
        losses.VGGFeatures("vgg11", weights=None)
    with pytest.raises(ValueError, match="block9_conv1"):
        losses.VGGFeatures("vgg16", ("block9_conv1",), weights=None)
    with pytest.raises(ValueError, match="block1_pool_preact"):  # pooling has no pre-activation
        losses.VGGFeatures("vgg16", ("block1_pool_preact",), weights=None)
    with pytest.raises(ValueError, match="input_size"):
        losses.VGGFeatures("vgg16", weights=None, input_size=0)


def test_resolve_vgg_weights(tmp_path):
    assert losses.resolve_vgg_weights(None) is None
    assert losses.resolve_vgg_weights("none") is None
    assert losses.resolve_vgg_weights("None") is None
    assert losses.resolve_vgg_weights("imagenet") == "imagenet"
    path = tmp_path / "vgg.weights.h5"
    import h5py

    h5py.File(path, "w").close()
    assert losses.resolve_vgg_weights(path) == str(path)
    not_hdf5 = tmp_path / "notes.h5"
    not_hdf5.write_text("not HDF5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        losses.resolve_vgg_weights(not_hdf5)
    with pytest.raises(ValueError, match="missing.h5"):
        losses.resolve_vgg_weights(str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="not an existing file"):
        losses.VGGFeatures("vgg16", weights=str(tmp_path / "missing.h5"))


# === PConv total ===
def test_pconv_loss_total_is_the_weighted_sum_of_its_terms(vgg16_pool):
    y_true = RNG.random((2, 32, 32, 3), dtype="float32")
    raw = RNG.random((2, 32, 32, 3), dtype="float32")
    hole = np.zeros((2, 32, 32, 1), "float32")
    hole[:, 8:20, 4:24] = 1.0
    terms = PConvLoss(vgg16_pool)(y_true, raw, hole)
    assert set(terms) == {"valid", "hole", "perceptual", "style_out", "style_comp", "tv", "total"}
    t = {k: float(_np(v)) for k, v in terms.items()}
    expected_total = (
        t["valid"]
        + 6 * t["hole"]
        + 0.05 * t["perceptual"]
        + 120 * (t["style_out"] + t["style_comp"])
        + 0.1 * t["tv"]
    )
    assert t["total"] == pytest.approx(expected_total, rel=1e-5)

    # Each term from its definition, with separate VGG passes.
    comp = hole * raw + (1 - hole) * y_true
    assert t["hole"] == pytest.approx(np.abs(hole * (raw - y_true)).mean(), rel=1e-5)
    assert t["valid"] == pytest.approx(np.abs((1 - hole) * (raw - y_true)).mean(), rel=1e-5)
    assert t["tv"] == pytest.approx(_tv_reference(comp, hole), rel=1e-4)
    f_out, f_comp, f_gt = vgg16_pool(raw), vgg16_pool(comp), vgg16_pool(y_true)
    perceptual = sum(
        np.abs(_np(a) - _np(g)).mean() + np.abs(_np(c) - _np(g)).mean()
        for a, c, g in zip(f_out, f_comp, f_gt)
    )
    assert t["perceptual"] == pytest.approx(perceptual, rel=1e-4)
    style_out = sum(
        np.abs(_np(losses.gram_matrix(a)) - _np(losses.gram_matrix(g))).mean()
        for a, g in zip(f_out, f_gt)
    )
    assert t["style_out"] == pytest.approx(style_out, rel=1e-4)
    assert t["style_comp"] < t["style_out"]  # comp equals the ground truth outside the holes


def test_pconv_loss_without_vgg_drops_the_vgg_terms_and_takes_weights():
    y_true = RNG.random((1, 8, 8, 3), dtype="float32")
    raw = RNG.random((1, 8, 8, 3), dtype="float32")
    hole = np.zeros((1, 8, 8, 1), "float32")
    hole[:, 2:5, 3:7] = 1.0
    terms = {k: float(_np(v)) for k, v in PConvLoss(None)(y_true, raw, hole).items()}
    assert set(terms) == {"valid", "hole", "tv", "total"}
    assert terms["total"] == pytest.approx(
        terms["valid"] + 6 * terms["hole"] + 0.1 * terms["tv"], rel=1e-6
    )
    custom = PConvLoss(None, weights={"hole": 1.0, "tv": 0.0})(y_true, raw, hole)
    assert float(_np(custom["total"])) == pytest.approx(terms["valid"] + terms["hole"], rel=1e-6)
    with pytest.raises(ValueError, match="holes"):
        PConvLoss(None, weights={"holes": 6.0})


def test_pconv_loss_in_tf_function_with_float16_matches_eager(vgg16_pool):
    y_true = RNG.random((1, 32, 32, 3), dtype="float32")
    raw = RNG.random((1, 32, 32, 3), dtype="float32")
    hole = np.zeros((1, 32, 32, 1), "float32")
    hole[:, 10:22, 10:22] = 1.0
    loss = PConvLoss(vgg16_pool)
    eager = loss(y_true, raw, hole)
    graph = tf.function(loss)(
        tf.constant(y_true, tf.float16), tf.constant(raw, tf.float16), tf.constant(hole)
    )
    for name, value in graph.items():
        assert value.dtype == tf.float32, name
        assert float(_np(value)) == pytest.approx(float(_np(eager[name])), rel=2e-2), name
