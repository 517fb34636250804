"""Contextual attention (DeepFill v1), built from matmuls, reshapes and strided slices.

Yu et al., "Generative Image Inpainting with Contextual Attention", CVPR 2018, section 4.1;
the numbers follow the authors' `contextual_attention` (JiahuiYu/generative_inpainting,
inpaint_ops.py), as SPEC.md section 6 describes it. GAIN's content branch uses it (SPEC.md
section 5).

Everything is `keras.ops`: patches are strided slices (no `tf.image.extract_patches`, which
TFLite only runs as a Flex op), the score maps and the patch pasting are batched matmuls, and the
overlap-add is a sum of padded quadrants; the converted model needs only builtin TFLite ops.

The score matrix is (h*w) x (h*w) per image at the matching resolution (h = H / rate): 16384 x
16384 float32 (1 GiB) for a 256 x 256 feature map at rate 2. Above `chunk_size` foreground
positions the layer scores blocks of foreground rows one after the other (with the few halo
rows the fusion needs), so only one block of scores is alive at a time in eager execution.
"""

import keras
from keras import ops

DOWNSAMPLE_MODES = ("align_corners", "half_pixel")


def _nearest_indices(in_size, out_size):
    """Source indices of TF1 `resize_nearest_neighbor(align_corners=True)`, in_size -> out_size.

    The reference downsamples through neuralgym's `resize`, whose `align_corners` defaults to
    True: output index i reads input index roundf(i * (in - 1) / (out - 1)) (float32 arithmetic,
    halves rounded away from zero), which is not a uniform grid (256 -> 128 reads 0, 2, ...,
    126, then 129, 131, ..., 255).
    """
    scale = ops.cast(in_size - 1, "float32") / ops.cast(ops.maximum(out_size - 1, 1), "float32")
    position = ops.cast(ops.arange(out_size), "float32") * scale
    floor = ops.floor(position)
    index = floor + ops.cast(position - floor >= 0.5, "float32")  # roundf for position >= 0
    return ops.minimum(ops.cast(index, "int32"), in_size - 1)


def _downsample(x, rate, mode):
    """Nearest-neighbour (B, H, W, C) -> (B, H / rate, W / rate, C), as the reference does."""
    if rate == 1:
        return x
    if mode == "half_pixel":  # TF2 `tf.image.resize(..., "nearest")`: pixel rate // 2 of a cell.
        return x[:, rate // 2 :: rate, rate // 2 :: rate, :]
    shape = ops.shape(x)
    x = ops.take(x, _nearest_indices(shape[1], shape[1] // rate), axis=1)
    return ops.take(x, _nearest_indices(shape[2], shape[2] // rate), axis=2)


def _patches(x, offsets, stride, num_rows, num_cols, pad_before, pad_after):
    """Patches of `x` at `stride`, zero padded: (B, h, w, C) -> (B, num_rows, num_cols, n*C).

    `offsets` lists the (row, column) of each patch pixel, in the order the channels come out;
    `pad_before`/`pad_after` are the zero rows (and columns) added around `x` first, as
    TensorFlow's 'SAME' padding adds them.
    """
    x = ops.pad(x, ((0, 0), (pad_before, pad_after), (pad_before, pad_after), (0, 0)))
    row_span = (num_rows - 1) * stride + 1
    col_span = (num_cols - 1) * stride + 1
    slices = [
        x[:, dy : dy + row_span : stride, dx : dx + col_span : stride, :] for dy, dx in offsets
    ]
    return ops.concatenate(slices, axis=-1)


def _shift(x, axis, direction):
    """Shifts `x` by one along `axis` with a zero coming in: +1 = forward, -1 = backward."""
    pad = [(0, 0)] * len(x.shape)
    keep = [slice(None)] * len(x.shape)
    if direction > 0:
        pad[axis], keep[axis] = (1, 0), slice(None, -1)
    else:
        pad[axis], keep[axis] = (0, 1), slice(1, None)
    return ops.pad(x[tuple(keep)], pad)


def _zero_after(x):
    """A (B, 1, 1) zero computed from `x`, to order graph ops: x + 0 never waits, this does.

    min(|v|, 0) is 0 for every number v (NaN stays NaN); no graph optimizer folds it away.
    """
    first = ops.reshape(x, (ops.shape(x)[0], -1))[:, :1]
    return ops.reshape(ops.minimum(ops.abs(first), 0.0), (-1, 1, 1))


def _plus(x, zero):
    return x if zero is None else x + zero


@keras.saving.register_keras_serializable(package="tfinpaint")
class ContextualAttention(keras.layers.Layer):
    """DeepFill v1's contextual attention, with one hole mask per sample.

    Reference: Yu et al., "Generative Image Inpainting with Contextual Attention", CVPR 2018,
    section 4.1, and the authors' `contextual_attention` (generative_inpainting,
    inpaint_ops.py), whose numbers this layer reproduces (SPEC.md section 6):

    1. Raw background patches of 2*rate x 2*rate pixels at stride rate*stride ('SAME' zero
       padding), for the reconstruction.
    2. Foreground, background and hole mask downsampled by `rate`, nearest neighbour (by
       default exactly the reference's TF1 `align_corners=True` resize; see `downsample`).
    3. ksize x ksize patches of the downsampled background at `stride` ('SAME' zero padding),
       each divided by max(its L2 norm, 1e-4); scores = convolution of the downsampled
       foreground ('SAME') with them: (B, h*w foreground positions, L background patches).
    4. Fusion (`fuse=True`): the score matrix is convolved with a fuse_k x fuse_k identity
       kernel ('SAME'), i.e. summed along its diagonal, once with both axes flattened row by row
       and once with both flattened column by column (the reference's transposes), which
       favours coherent neighbouring matches.
    5. Scores of background patches that touch the hole are set to 0, then
       softmax(scores * softmax_scale) over the background patches, then those patches' weights
       are set to 0 again.
    6. Output = overlap-add (transposed convolution, stride rate, 'SAME') of the raw patches
       weighted by the attention, divided by 4.

    Departures from the reference code: the hole mask is per sample (the reference takes the
    first mask of the batch for every sample); the fusion with stride > 1 uses the patch grid
    (the reference's reshape only works with stride 1); offsets are returned as numbers, not
    as a colour-coded flow image.

    Memory: the scores of one image take (h*w) x L floats (L = h*w with stride 1). Maps with
    more than `chunk_size` foreground positions (at the matching resolution) are scored in
    blocks of whole rows of about `chunk_size` positions; chunked and unchunked outputs agree to
    float rounding. Chunking needs static spatial sizes (eager calls and `tf.function` traces
    of concrete shapes); a graph traced with unknown height or width scores the whole map at
    once.

    Args:
        ksize: int. Side of the matching patches (at the matching resolution).
        stride: int. Stride of the background patches at the matching resolution.
        rate: int. Downsampling factor of the matching; the raw patches are 2*rate pixels.
        fuse_k: int. Side of the identity kernel of the score fusion.
        softmax_scale: float. Scale of the scores inside the softmax.
        fuse: bool. Whether to fuse the scores.
        chunk_size: int or None. Most foreground positions (at the matching resolution) scored
            at once; larger maps are processed in blocks of rows. None: never chunk.
        downsample: str. "align_corners" (default): the reference's nearest-neighbour
            downsampling, TF1 `resize_nearest_neighbor(align_corners=True)`, which samples a
            slightly non-uniform grid. "half_pixel": pixel rate // 2 of every rate x rate cell
            (TF2 `tf.image.resize(..., "nearest")`), a uniform grid; not the reference.
        return_offsets: bool. Also return the attention offsets, for visualisation.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: list `[foreground, background, hole_mask]`: foreground (B, H, W, C),
    background (B, Hb, Wb, C), hole_mask (B, Hb, Wb, 1) with 1 = hole (background patches
    touching a hole are never used). H, W must be multiples of `rate`; Hb, Wb multiples of
    rate * stride. GAIN and DeepFill pass the same tensor as foreground and background.

    Returns: (B, H, W, C), or with `return_offsets=True` a tuple (output, offsets) where
    offsets is int32 (B, H / rate, W / rate, 2): for each foreground position at the matching
    resolution, (row, column) of its most attended background patch minus its own position,
    in matching-resolution cells (the reference's "case 1" flow, before colour coding).

    Example:
    >>> attention = ContextualAttention()
    >>> x = np.random.rand(2, 16, 16, 8).astype("float32")
    >>> hole_mask = np.zeros((2, 16, 16, 1), "float32")
    >>> hole_mask[:, 4:10, 4:10] = 1.0
    >>> attention([x, x, hole_mask]).shape
    TensorShape([2, 16, 16, 8])
    """

    def __init__(
        self,
        ksize=3,
        stride=1,
        rate=2,
        fuse_k=3,
        softmax_scale=10.0,
        fuse=True,
        chunk_size=1024,
        downsample="align_corners",
        return_offsets=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("ksize", ksize), ("stride", stride), ("rate", rate)):
            _check_positive_int(name, value)
        _check_positive_int("fuse_k", fuse_k)
        if chunk_size is not None:
            _check_positive_int("chunk_size", chunk_size)
        if downsample not in DOWNSAMPLE_MODES:
            raise ValueError(
                f"ContextualAttention received downsample={downsample!r}; expected one of "
                f"{DOWNSAMPLE_MODES}."
            )
        self.ksize = int(ksize)
        self.stride = int(stride)
        self.rate = int(rate)
        self.fuse_k = int(fuse_k)
        self.softmax_scale = float(softmax_scale)
        self.fuse = bool(fuse)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.downsample = downsample
        self.return_offsets = bool(return_offsets)

    # --- Shapes ----------------------------------------------------------------------------

    def _check_shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3:
            raise ValueError(
                "ContextualAttention expects a list [foreground, background, hole_mask]; "
                f"received {input_shape!r}."
            )
        fg_shape, bg_shape, mask_shape = (tuple(s) for s in input_shape)
        if len(fg_shape) != 4 or len(bg_shape) != 4 or len(mask_shape) != 4:
            raise ValueError(
                f"ContextualAttention received shapes {fg_shape}, {bg_shape}, {mask_shape}; "
                "expected (B, H, W, C), (B, Hb, Wb, C) and (B, Hb, Wb, 1)."
            )
        if fg_shape[-1] != bg_shape[-1] or mask_shape[-1] != 1:
            raise ValueError(
                f"ContextualAttention received channels {fg_shape[-1]}, {bg_shape[-1]} and "
                f"{mask_shape[-1]}; expected the same foreground and background channels and a "
                "1-channel hole mask."
            )
        for a, b in zip(bg_shape[1:3], mask_shape[1:3]):
            if a is not None and b is not None and a != b:
                raise ValueError(
                    f"ContextualAttention received a background of shape {bg_shape} and a hole "
                    f"mask of shape {mask_shape}; expected the same height and width."
                )
        checks = (
            (fg_shape, self.rate, "foreground"),
            (bg_shape, self.rate * self.stride, "background"),
        )
        for shape, multiple, what in checks:
            for size in shape[1:3]:
                if size is not None and size % multiple:
                    raise ValueError(
                        f"ContextualAttention received a {what} of shape {shape}; expected a "
                        f"height and width that are multiples of {multiple}."
                    )
        if self.fuse:
            pad = (self.fuse_k - 1) // 2
            wrap = max(pad, self.fuse_k - 1 - pad)
            sizes = [s // self.rate for s in (fg_shape[1],) if s is not None]
            if bg_shape[1] is not None:
                sizes.append(bg_shape[1] // (self.rate * self.stride))
            if sizes and wrap > min(sizes):
                raise ValueError(
                    f"ContextualAttention(fuse_k={self.fuse_k}) received foreground {fg_shape} "
                    f"and background {bg_shape}; expected at least {wrap} rows at the matching "
                    "resolution (use a smaller fuse_k)."
                )
        return fg_shape, bg_shape, mask_shape

    def build(self, input_shape):
        self._check_shapes(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        fg_shape, _, _ = self._check_shapes(input_shape)
        if not self.return_offsets:
            return fg_shape
        batch, height, width = fg_shape[:3]
        offsets = (
            batch,
            None if height is None else height // self.rate,
            None if width is None else width // self.rate,
            2,
        )
        return fg_shape, offsets

    def compute_output_spec(self, inputs):
        shapes = self.compute_output_shape([tuple(x.shape) for x in inputs])
        if not self.return_offsets:
            return keras.KerasTensor(shapes, dtype=self.compute_dtype)
        return (
            keras.KerasTensor(shapes[0], dtype=self.compute_dtype),
            keras.KerasTensor(shapes[1], dtype="int32"),
        )

    # --- Computation -----------------------------------------------------------------------

    def call(self, inputs):
        foreground, background, hole_mask = inputs
        rate, stride, ksize = self.rate, self.stride, self.ksize
        foreground = ops.cast(foreground, "float32")
        background = ops.cast(background, "float32")
        hole_mask = ops.cast(hole_mask, "float32")
        fg_shape = ops.shape(foreground)
        bg_shape = ops.shape(background)
        batch, height, width, channels = fg_shape
        fh, fw = height // rate, width // rate  # Foreground grid at the matching resolution.
        ph = bg_shape[1] // (rate * stride)  # Background patch grid.
        pw = bg_shape[2] // (rate * stride)
        num_fg, num_bg = fh * fw, ph * pw
        cell_size = rate * rate * channels

        # 1. What the attention pastes. A raw 2r x 2r patch ('SAME' zero padding) is 2 x 2
        # cells of r x r pixels. With stride 1 neighbouring patches share cells, so the layer
        # pastes cells (4x fewer multiply-adds, see `_spread`): (B, (ph+1)*(pw+1), r*r*C).
        # Otherwise the raw patches themselves, pixels ordered by quadrant: (B, L, 4r^2 C).
        pad = max(2 * rate - rate * stride, 0)
        cell_offsets = [(dy, dx) for dy in range(rate) for dx in range(rate)]
        if stride == 1:
            source = _patches(
                background, cell_offsets, rate, ph + 1, pw + 1, pad // 2, pad - pad // 2
            )
            source = ops.reshape(source, (batch, (ph + 1) * (pw + 1), cell_size))
        else:
            quadrant_offsets = [
                (a * rate + dy, b * rate + dx)
                for a in (0, 1)
                for b in (0, 1)
                for dy, dx in cell_offsets
            ]
            source = _patches(
                background, quadrant_offsets, rate * stride, ph, pw, pad // 2, pad - pad // 2
            )
            source = ops.reshape(source, (batch, num_bg, 4 * cell_size))

        # 2. Nearest-neighbour downsampling to the matching resolution.
        foreground = _downsample(foreground, rate, self.downsample)
        background = _downsample(background, rate, self.downsample)
        hole_mask = _downsample(hole_mask, rate, self.downsample)

        # 3. Normalised ksize x ksize background patches and the foreground's patches.
        offsets = [(dy, dx) for dy in range(ksize) for dx in range(ksize)]
        pad = max(ksize - stride, 0)
        bg_patches = _patches(background, offsets, stride, ph, pw, pad // 2, pad - pad // 2)
        bg_patches = ops.reshape(bg_patches, (batch, num_bg, ksize * ksize * channels))
        norms = ops.sqrt(ops.sum(ops.square(bg_patches), axis=-1, keepdims=True))
        bg_patches = bg_patches / ops.maximum(norms, 1e-4)
        mask_patches = _patches(hole_mask, offsets, stride, ph, pw, pad // 2, pad - pad // 2)
        # (B, ph, pw, k*k) -> (B, 1, L): 1 where the patch holds no hole pixel (per sample).
        valid = ops.cast(ops.equal(ops.sum(mask_patches, axis=-1), 0.0), "float32")
        valid = ops.reshape(valid, (batch, 1, num_bg))
        pad = ksize - 1
        fg_patches = _patches(foreground, offsets, 1, fh, fw, pad // 2, pad - pad // 2)
        fg_patches = ops.reshape(fg_patches, (batch, num_fg, ksize * ksize * channels))

        fuse_pad = (self.fuse_k - 1) // 2 if self.fuse else 0
        fuse_after = self.fuse_k - 1 - fuse_pad if self.fuse else 0
        if self.fuse:
            # Zero patches around both flattened axes: their scores are the fusion's zero
            # padding, so every foreground block reads its halo with one slice.
            fg_patches = ops.pad(fg_patches, ((0, 0), (fuse_pad, fuse_after), (0, 0)))
            bg_patches = ops.pad(bg_patches, ((0, 0), (fuse_pad, fuse_after), (0, 0)))
        bg_patches = ops.transpose(bg_patches, (0, 2, 1))  # (B, k*k*C, L + fuse_k - 1)

        grid = dict(fh=fh, fw=fw, ph=ph, pw=pw, num_bg=num_bg, pad=fuse_pad, after=fuse_after)
        static = all(isinstance(v, int) for v in (fh, fw, ph, pw))
        if static and self.chunk_size is not None and num_fg > self.chunk_size:
            rows = max(1, self.chunk_size // fw)
            bounds = [(y0, min(y0 + rows, fh)) for y0 in range(0, fh, rows)]
        else:
            bounds = [(0, None)]  # The whole map at once (sizes may be tensors).

        cells, pasted, best, after_previous = None, [], [], None
        for y0, y1 in bounds:
            chunk, chunk_best = self._chunk(
                fg_patches, bg_patches, valid, source, y0, y1, grid, after_previous
            )
            best.append(chunk_best)
            if y1 is not None:
                after_previous = _zero_after(chunk)
            if stride != 1:
                pasted.append(chunk)
            elif y1 is None:
                cells = chunk
            else:  # Cell rows [y0, y1] of (fh + 1): neighbouring chunks share one row.
                chunk = ops.pad(chunk, ((0, 0), (y0, fh - y1), (0, 0), (0, 0)))
                cells = chunk if cells is None else cells + chunk
        if stride != 1:
            pasted = pasted[0] if len(pasted) == 1 else ops.concatenate(pasted, axis=1)
            cells = self._quadrant_cells(pasted, batch, fh, fw, cell_size)
        # 6b. Cells to pixels: (B*(fh+1), fw+1, r, r, C) -> (B*(fh+1), r, fw+1, r, C) ->
        # (B, (fh+1) r, (fw+1) r, C), cropped by the transposed convolution's 'SAME' padding
        # (r in all, r // 2 first), divided by 4 as the reference does.
        cells = ops.reshape(cells, (-1, fw + 1, rate, rate, channels))
        cells = ops.transpose(cells, (0, 2, 1, 3, 4))
        canvas = ops.reshape(cells, (batch, (fh + 1) * rate, (fw + 1) * rate, channels))
        top = rate // 2
        output = canvas[:, top : top + height, top : top + width, :] / 4.0
        output = ops.cast(output, self.compute_dtype)
        if not self.return_offsets:
            return output
        best = best[0] if len(best) == 1 else ops.concatenate(best, axis=1)
        best = ops.reshape(ops.cast(best, "int32"), (batch, fh, fw))
        fg_rows = ops.reshape(ops.arange(fh, dtype="int32"), (1, fh, 1))
        fg_cols = ops.reshape(ops.arange(fw, dtype="int32"), (1, 1, fw))
        offsets = ops.stack(
            [(best // pw) * stride - fg_rows, (best % pw) * stride - fg_cols], axis=-1
        )
        return output, offsets

    def _chunk(self, fg_patches, bg_patches, valid, source, y0, y1, grid, after_previous):
        """Attention and pasting for foreground rows [y0, y1) (y1 None: all rows).

        Returns the pasted cells (B, rows + 1, fw + 1, r*r*C) with stride 1, else the pasted
        patches (B, rows*fw, 4r^2 C); and the best patch index of every position, or None.
        Big intermediates are deleted as soon as they are used: in eager execution only a few
        (rows*fw) x L blocks are alive at once. `after_previous` (a zero that depends on the
        previous chunk's result, or None) is added to this chunk's foreground patches, so that a
        graph runs the chunks one after the other instead of all at once.
        """
        fh, fw, ph, pw = grid["fh"], grid["fw"], grid["ph"], grid["pw"]
        rows = fh if y1 is None else y1 - y0
        # 4. Scores (B, rows*fw, L), fused.
        scores = self._scores(fg_patches, bg_patches, y0, y1, grid, after_previous)
        # 5. Scores of patches touching the hole set to 0, softmax(scores * scale), the same
        # patches' weights set to 0 again. (x * valid) * scale == x * (valid * scale) exactly.
        scores = scores * (valid * self.softmax_scale)
        attention = ops.softmax(scores, axis=-1)
        del scores
        attention = attention * valid
        best = ops.argmax(attention, axis=-1) if self.return_offsets else None
        if self.stride != 1:
            # 6a. (B, n, L) @ (B, L, 4r^2 C) -> (B, n, 4r^2 C): each position's pasted patch.
            return ops.matmul(attention, source), best
        # 6a. Quadrant (a, b) of the patch at (i, j) lands on output cell (i + a, j + b) and
        # comes from background cell (k + a, l + b) of patch (k, l): the attention spread over
        # both cell grids pastes all four quadrants with one matmul.
        # (B*rows, fw, ph, pw) -> (B*rows, fw + 1, ph, pw + 1): the b = 0 and b = 1 terms.
        attention = ops.reshape(attention, (-1, fw, ph, pw))
        spread = ops.pad(attention, ((0, 0), (0, 1), (0, 0), (0, 1)))
        spread = spread + ops.pad(attention, ((0, 0), (1, 0), (0, 0), (1, 0)))
        del attention
        # (B, rows, fw + 1, ph*(pw + 1)) -> (B, rows + 1, fw + 1, (ph + 1)*(pw + 1)): a = 0, 1.
        spread = ops.reshape(spread, (-1, rows, fw + 1, ph * (pw + 1)))
        shifted = ops.pad(spread, ((0, 0), (1, 0), (0, 0), (pw + 1, 0)))
        spread = ops.pad(spread, ((0, 0), (0, 1), (0, 0), (0, pw + 1))) + shifted
        del shifted
        spread = ops.reshape(spread, (-1, (rows + 1) * (fw + 1), (ph + 1) * (pw + 1)))
        # (B, (rows+1)(fw+1), (ph+1)(pw+1)) @ (B, (ph+1)(pw+1), r*r*C) -> output cells
        cells = ops.matmul(spread, source)
        return ops.reshape(cells, (-1, rows + 1, fw + 1, ops.shape(source)[-1])), best

    def _scores(self, fg_patches, bg_patches, y0, y1, grid, after_previous=None):
        """Fused scores of foreground rows [y0, y1) (y1 None: all rows): (B, rows*fw, L)."""
        fh, fw, ph, pw = grid["fh"], grid["fw"], grid["ph"], grid["pw"]
        num_bg = grid["num_bg"]
        if not self.fuse:
            stop = None if y1 is None else y1 * fw
            # (B, n, k*k*C) @ (B, k*k*C, L) -> (B, n, L)
            return ops.matmul(_plus(fg_patches[:, y0 * fw : stop], after_previous), bg_patches)
        pad, after = grid["pad"], grid["after"]

        def row_major_fused(r0, r1):
            # Rows [r0, r1) of the first fusion pass (both axes flattened row by row): the
            # scores of the block plus `pad` / `after` halo positions, summed along diagonals.
            # (B, n + k - 1, k*k*C) @ (B, k*k*C, L + k - 1) -> (B, n + k - 1, L + k - 1)
            rows_patches = _plus(fg_patches[:, r0 * fw : r1 * fw + pad + after], after_previous)
            scores = ops.matmul(rows_patches, bg_patches)
            count = (r1 - r0) * fw
            fused = scores[:, :count, :num_bg]
            for i in range(1, self.fuse_k):
                fused = fused + scores[:, i : i + count, i : i + num_bg]
            return fused

        # The second pass flattens the foreground column by column: the neighbour above row 0
        # is row fh - 1 one column to the left, the one below row fh - 1 is row 0 one column to
        # the right. Rows [y0 - pad, y1 + after) of the first pass, with those wrapped rows.
        if y1 is None:  # The whole map: wrapped rows are rows of the block itself.
            rows = fh
            main = row_major_fused(0, fh)
            top_rows = main[:, (fh - pad) * fw :] if pad else None
            bottom_rows = main[:, : after * fw] if after else None
            top, bottom = pad, after
        else:
            rows = y1 - y0
            first, last = y0 - pad, y1 + after
            top, bottom = max(0, -first), max(0, last - fh)
            main = row_major_fused(max(first, 0), min(last, fh))
            top_rows = row_major_fused(fh - top, fh) if top else None
            bottom_rows = row_major_fused(0, bottom) if bottom else None
        if top or bottom:
            parts = []
            if top:
                top_rows = ops.reshape(top_rows, (-1, top, fw, num_bg))
                parts.append(ops.reshape(_shift(top_rows, 2, 1), (-1, top * fw, num_bg)))
            parts.append(main)
            if bottom:
                bottom_rows = ops.reshape(bottom_rows, (-1, bottom, fw, num_bg))
                parts.append(ops.reshape(_shift(bottom_rows, 2, -1), (-1, bottom * fw, num_bg)))
            main = ops.concatenate(parts, axis=1)
            del parts, top_rows, bottom_rows
        # The background axis gets the same wrapped rows:
        # (B, n', L) -> (B, n', ph, pw) -> (B, n', ph + k - 1, pw).
        block = ops.reshape(main, (-1, (rows + pad + after) * fw, ph, pw))
        del main
        parts = []
        if pad:
            parts.append(_shift(block[:, :, ph - pad :, :], 3, 1))
        parts.append(block)
        if after:
            parts.append(_shift(block[:, :, :after, :], 3, -1))
        block = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=2)
        del parts
        fused = block[:, : rows * fw, :ph, :]
        for j in range(1, self.fuse_k):
            fused = fused + block[:, j * fw : (j + rows) * fw, j : j + ph, :]
        del block
        return ops.reshape(fused, (-1, rows * fw, num_bg))

    def _quadrant_cells(self, pasted, batch, fh, fw, cell_size):
        """Overlap-add of per-position patches (B, fh*fw, 4 cells) on the output cell grid.

        Quadrant (a, b) of the patch at (i, j) lands on cell (i + a, j + b) of the
        (fh + 1) x (fw + 1) grid: (B, fh + 1, fw + 1, r*r*C).
        """
        cells = 0.0
        for index, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            quadrant = pasted[:, :, index * cell_size : (index + 1) * cell_size]
            quadrant = ops.reshape(quadrant, (batch, fh, fw, cell_size))
            cells = cells + ops.pad(quadrant, ((0, 0), (a, 1 - a), (b, 1 - b), (0, 0)))
        return cells

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "ksize": self.ksize,
                "stride": self.stride,
                "rate": self.rate,
                "fuse_k": self.fuse_k,
                "softmax_scale": self.softmax_scale,
                "fuse": self.fuse,
                "chunk_size": self.chunk_size,
                "downsample": self.downsample,
                "return_offsets": self.return_offsets,
            }
        )
        return config


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"ContextualAttention received {name}={value!r}; expected a positive integer."
        )
