"""Issue 14: is it spectral normalisation that holds the cascade discriminator at chance on
real photos? Run from the repository root:

    python benchmarks/cascade_dcheck_sn.py [--run=/work/runs/cascade_photos] [--steps=300]

The discriminator is trained *alone* (Adam 1e-4, (0.9, 0.999) as the trainer, the paper's
0.5 x BCE) on photos of the training split against the fills of a frozen, L1-trained cascade
generator (the run `--run`), in three layouts built from the same seed:

  sn_all       the paper's: every convolution and the dense logit layer spectrally normalised
  sn_no_logits the same, but the dense (C -> 1) logit layer without spectral normalisation
  no_sn        no spectral normalisation anywhere

Every `--every` steps it prints, on fixed batches of the *validation* photos (never trained
on): the mean probability gap D(real) - D(fake), the share of pairs whose real image scores
above its own fill, and the 0.5 x BCE (chance: ln 2 = 0.6931). A discriminator that learns
moves the gap away from 0 and the pair accuracy towards 1.
"""

import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_RUN = flags.DEFINE_string("run", "/work/runs/cascade_photos", "L1-trained cascade run.")
_TRAIN = flags.DEFINE_string("train", "/work/data/photos/train", "Training photos.")
_VAL = flags.DEFINE_string("val", "/work/data/photos/val", "Validation photos.")
_STEPS = flags.DEFINE_integer("steps", 300, "Discriminator steps per layout.")
_EVERY = flags.DEFINE_integer("every", 50, "Steps between validation records.")
_LAYOUTS = flags.DEFINE_list("layouts", ["sn_all", "sn_no_logits", "no_sn"], "Layouts to run.")
_OUTPUT = flags.DEFINE_string("output_json", None, "Write the records here too.")

_IMAGE_SIZE = 128
_BATCH = 8
_MASKS = "mixed:freeform=3,rect:0.2-0.5=1"


def _build(layout, widths):
    import keras

    from tfinpaint.models import cascade

    original = keras.layers.SpectralNormalization
    keras.utils.set_random_seed(0)
    try:
        if layout == "no_sn":
            keras.layers.SpectralNormalization = lambda layer, **kwargs: layer
        discriminator = cascade.CascadeDiscriminator(widths=widths)
    finally:
        keras.layers.SpectralNormalization = original
    if layout == "sn_no_logits":
        keras.utils.set_random_seed(0)
        rebuilt = cascade.CascadeDiscriminator(widths=widths)
        # Same convolutions; a plain Dense on the pooled features instead of the SN one.
        features = keras.Model(rebuilt.inputs, rebuilt.get_layer("logits").input)
        dense = keras.layers.Dense(1, name="dense")
        discriminator = keras.Sequential([features, dense])
        discriminator.build((None, None, None, 3))
    return discriminator


def _records(discriminator, val_batches):
    import numpy as np
    import tensorflow as tf

    gaps, wins, losses = [], [], []
    for real, fake in val_batches:
        # training=True: Keras' SpectralNormalization normalises only then (as in training).
        real_logits = discriminator(real, training=True)
        fake_logits = discriminator(fake, training=True)
        gaps.append(tf.sigmoid(real_logits) - tf.sigmoid(fake_logits))
        wins.append(tf.cast(real_logits > fake_logits, tf.float32))
        losses.append(
            0.5
            * (
                tf.nn.softplus(-real_logits)  # -log sigmoid(real)
                + tf.nn.softplus(fake_logits)  # -log(1 - sigmoid(fake))
            )
        )
    return {
        "gap": float(np.mean(np.concatenate(gaps))),
        "pair_accuracy": float(np.mean(np.concatenate(wins))),
        "half_bce": float(np.mean(np.concatenate(losses))),
    }


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    from tfinpaint import inference
    from tfinpaint.data.pipeline import build_dataset

    generator = inference.load_generator(_RUN.value)
    widths = (32, 64, 128, 128, 128)  # the paper preset's stage-1 discriminator

    def fill(batch):
        inputs = {"images": batch["images"], "masks": batch["masks"]}
        return batch["images"], generator(inputs, training=False)["inpainted"]

    train = build_dataset(
        _TRAIN.value, _IMAGE_SIZE, _BATCH, masks=_MASKS, seed=1, training=True
    )
    val = build_dataset(_VAL.value, _IMAGE_SIZE, _BATCH, masks=_MASKS, seed=2, training=False)
    val_batches = [fill(batch) for batch in val.take(4)]
    results = {}
    for layout in _LAYOUTS.value:
        discriminator = _build(layout, widths)
        optimizer = keras.optimizers.Adam(1e-4)

        @tf.function
        def step(real, fake, discriminator=discriminator, optimizer=optimizer):
            with tf.GradientTape() as tape:
                real_logits = discriminator(real, training=True)
                fake_logits = discriminator(fake, training=True)
                loss = 0.5 * tf.reduce_mean(
                    tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits)
                )
            variables = discriminator.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        history = [{"step": 0, **_records(discriminator, val_batches)}]
        print(layout, json.dumps(history[-1]), flush=True)
        for number, batch in enumerate(train.take(_STEPS.value), start=1):
            step(*fill(batch))
            if number % _EVERY.value == 0:
                history.append({"step": number, **_records(discriminator, val_batches)})
                print(layout, json.dumps(history[-1]), flush=True)
        results[layout] = history
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    app.run(main)
