"""tlcourse: the library behind "Transfer Learning & Pre-trained Models, from ResNet to GPT-3".

Modules mirror the course. Shared by every chapter:

- ``data``: one loader per offline asset (corpora, images, pre-trained weights), each checked;
- ``text``: the word tokenizer and vocabulary of the NLP chapters;
- ``zoo`` and ``recipes/<chapter>.py``: the models the course pre-trains itself, cached by a hash
  of their recipe and code; ``weights/``: the recipes shipped trained;
- ``ledger``: the headline claims of the pages, with their intervals;
- ``pages``: helpers for the book's pages; ``widgets``: widgets that work on the static site;
- ``paths``: where the repository, the model-zoo cache and the grading work folder are;
- ``checks/<chapter>.py``: the visible checks of the assignments.

One module per chapter holds the code its page and its recipes share: ``vision`` (1),
``embeddings`` (2), ``ulmfit`` (3), ``bert`` (5), ``gpt`` (6), ``t5`` and ``distillation`` (7).
Chapter 4 writes its attention and Transformer block on the page itself.
"""
import os

# No hub is reachable: without these a hub lookup takes ~25 s to fail. The one place in Python
# that decides them: importing the library sets them (unless already set), and the grader passes
# the same to the processes it starts.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
