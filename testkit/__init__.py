"""The course's test kit: what the tests and benchmarks use to exercise the grader, never the
grader itself (``autograder/`` imports nothing from here).

- ``submissions``: submissions made the way a student would (the release with its answer cells
  filled in: the reference solution, or a mutant of it);
- ``mutants/ch<assignment>.py``: the common wrong answers of each assignment (``mutants.load``);
- ``stock``: stock ``nbgrader autograde``, the baseline the course's grader is compared with.
"""
