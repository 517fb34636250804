"""Issue 14: is it spectral normalisation that holds the cascade discriminator at chance on
real photos? With the package importable (`pip install -e .`):

    python benchmarks/cascade_dcheck_sn.py --run=runs/cascade_photos \
        --train=data/photos/train --val=data/photos/val [--steps=300] [--output_json=OUT.json]

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

from absl import app, flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

_RUN = flags.DEFINE_string(
    "run", None, "L1-trained cascade run (a workdir or a checkpoint name).", required=True
)
_TRAIN = flags.DEFINE_string("train", None, "Training photos (a folder).", required=True)
_VAL = flags.DEFINE_string("val", None, "Validation photos (a folder).", required=True)
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

    keras.utils.set_random_seed(0)
    original = keras.layers.SpectralNormalization
    if layout == "no_sn":
        keras.layers.SpectralNormalization = lambda layer, **kwargs: layer
    try:
        discriminator = cascade.CascadeDiscriminator(widths=widths)
    finally:
        keras.layers.SpectralNormalization = original
    if layout == "sn_no_logits":
        # Same convolutions; a plain Dense on the pooled features instead of the SN one.
        features = keras.Model(discriminator.inputs, discriminator.get_layer("logits").input)
        discriminator = keras.Sequential([features, keras.layers.Dense(1, name="dense")])
        discriminator.build((None, None, None, 3))
    return discriminator


def _half_bce(real_logits, fake_logits):
    from tfinpaint import losses

    return 0.5 * losses.bce_d_loss(real_logits, fake_logits, from_logits=True)


def _records(discriminator, val_batches):
    import numpy as np
    import tensorflow as tf

    from tfinpaint.training.trainer import pair_accuracy

    # training=True: Keras' SpectralNormalization normalises only then (as in training), one
    # power iteration per call, so the order of the calls (each batch's real, then its fake)
    # is part of the measurement.
    logits = [[discriminator(images, training=True) for images in pair] for pair in val_batches]
    real_logits, fake_logits = (tf.concat([pair[side] for pair in logits], 0) for side in (0, 1))
    return {
        "gap": float(np.mean(tf.sigmoid(real_logits) - tf.sigmoid(fake_logits))),
        "pair_accuracy": float(pair_accuracy(real_logits, fake_logits)),
        "half_bce": float(_half_bce(real_logits, fake_logits)),
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

    train = build_dataset(_TRAIN.value, _IMAGE_SIZE, _BATCH, masks=_MASKS, seed=1, training=True)
    val = build_dataset(_VAL.value, _IMAGE_SIZE, _BATCH, masks=_MASKS, seed=2, training=False)
    val_batches = [fill(batch) for batch in val.take(4)]
    results = {}
    for layout in _LAYOUTS.value:
        discriminator = _build(layout, widths)
        optimizer = keras.optimizers.Adam(1e-4)

        @tf.function
        def step(real, fake, discriminator=discriminator, optimizer=optimizer):
            with tf.GradientTape() as tape:
                loss = _half_bce(
                    discriminator(real, training=True), discriminator(fake, training=True)
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
