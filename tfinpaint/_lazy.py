"""Package attributes imported on first use (PEP 562), so that importing a package, or one of
its modules, does not import its other modules (and TensorFlow with them).

`tfinpaint.models` needs `tfinpaint.data.image_files` (numpy only), and
`tools/benchmark_keras_backend.py` needs `tfinpaint.benchmark.timing` (Keras ops only), on
machines where only JAX is installed: Python runs a package's `__init__` before any of its
modules, so an `__init__` that re-exports eagerly would import the tf.data pipeline there.

Example (a package's `__init__.py`):
```python
from tfinpaint import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, {"build_dataset": "pipeline"})
```
"""

import importlib


def attach(package, exports, submodules=()):
    """`__getattr__`, `__dir__` and `__all__` for `package`.

    Args:
        package: str. The package's `__name__`.
        exports: dict. Public name -> the module of the package that defines it.
        submodules: iterable of str. Modules reachable as attributes themselves (beside those
            named in `exports`, which are too).

    Returns:
        (__getattr__, __dir__, __all__): a name of `exports` is looked up in its module on
        first use and then kept in the package; a module name is imported.
    """
    modules = frozenset(exports.values()) | frozenset(submodules)
    names = sorted(exports, key=str.lower)

    def __getattr__(name):
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
            setattr(importlib.import_module(package), name, value)
            return value
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(importlib.import_module(package))) | set(names) | modules)

    return __getattr__, __dir__, names
