"""The course's grading pipeline, built on nbgrader (see ``nbgrader_config.py``)."""
