"""tlcourse: the library behind "Transfer Learning & Pre-trained Models, from ResNet to GPT-3".

Modules mirror the course: ``data`` (offline assets), ``zoo`` (models the course pre-trains
itself), ``widgets`` (widgets that keep working on the static site) and ``checks`` (the
visible checks of the assignments).
"""
import os

# No hub is reachable: without this a hub lookup takes ~25 s to fail.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

__version__ = "0.1.0"
