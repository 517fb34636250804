"""tfinpaint: five image-inpainting systems for TensorFlow 2 / Keras 3 behind one API."""

from setuptools import find_packages, setup

setup(
    name="tfinpaint",
    version="0.1.0",
    description=(
        "PConv U-Net, GLCIC, the cascade generator, DeepGIN and GAIN for TensorFlow 2 / "
        "Keras 3: train, evaluate, inpaint, export to TF Serving and TFLite."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tfinpaint", "tfinpaint.*"]),
    # The shipped generators (tfinpaint.inference.list_checkpoints) travel with the package, so
    # a regular install loads them by name too; the repository's checkpoints/ links here. Their
    # cards go along; the cards' training curves and example figures (*_curve*.png,
    # *_figure.png, ~9 MB) stay in the repository, where the cards show them: nothing reads
    # them at run time.
    package_data={
        "tfinpaint": [
            "checkpoints/*.json",
            "checkpoints/*.weights.h5",
            "checkpoints/*.md",
        ]
    },
    # Package data is exactly the list above: no include_package_data, no MANIFEST.in.
    include_package_data=False,
    install_requires=[
        # Keras 3 arrived with TF 2.16; tensorflow-addons is deliberately absent (end of life).
        "tensorflow>=2.16,<3",
        "keras>=3.3,<4",
        # TF no longer pulls TensorBoard in; training writes its summaries.
        "tensorboard>=2.16,<3",
        "numpy>=1.26,<3",
        # The contrib build: OpenCV plus xphoto, whose FSR fill is an evaluation baseline. It
        # replaces opencv-python-headless (both install cv2; only one may be installed).
        "opencv-contrib-python-headless>=4.8,<6",
        "tensorflow-datasets>=4.9,<5",
        "absl-py>=1.4,<3",
        "scikit-image>=0.22,<1",
        # DeepFill v2 strokes are drawn with Pillow, as the reference draws them (masks.py).
        "pillow>=10,<14",
    ],
    extras_require={
        "test": [
            "pytest>=7.4,<10",
            # The default suite runs on two workers (README's test command).
            "pytest-xdist>=3.5,<4",
            "ai-edge-litert>=1.0,<3",
        ],
        # tools/benchmark.py --compare=torch only; never imported otherwise. The CPU build is
        # enough (pip install torch --index-url https://download.pytorch.org/whl/cpu).
        "bench": ["torch>=2.4"],
        # tools/demo.py only (gr.ImageEditor's layers API); the package never imports it.
        "demo": ["gradio>=6,<7"],
    },
)
