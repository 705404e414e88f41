"""The zoo's recipes, one module per chapter (``vision``, ``embeddings``, ...).

Importing this package imports every module in it, which registers their ``@recipe`` functions;
``tlcourse.zoo`` explains the mechanism. A chapter adds a recipe by adding a module here.
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
