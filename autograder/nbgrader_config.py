"""nbgrader configuration of the course.

The course root is the repository: ``solutions/`` is nbgrader's source directory and ``exercises/``
its release directory. Everything grading produces (submissions, autograded notebooks, feedback,
the gradebook) lives in a work folder outside version control: ``$TLCOURSE_GRADING_DIR`` or
``<repo>/grading``.

nbgrader reads ``nbgrader_config.py`` from the current directory only, so to use the nbgrader CLI by
hand run it from this folder (``cd autograder && nbgrader ...``); ``python -m autograder.grade`` and
``python -m autograder.release`` load this file themselves.
"""
import os
import sys

c = get_config()  # noqa: F821 (provided by traitlets when the file is loaded)

_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _root not in sys.path:       # the nbgrader CLI run by hand from this folder
    sys.path.insert(0, _root)
# work_dir: the one place that decides the work folder
from autograder.course import assignments, work_dir  # noqa: E402
from autograder.twins import twin_name  # noqa: E402

_work = str(work_dir())
os.makedirs(_work, exist_ok=True)

c.CourseDirectory.root = _root
c.CourseDirectory.course_id = "tlcourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = os.environ.get("TLCOURSE_RELEASE_DIR", "exercises")
# Absolute paths are kept as they are by nbgrader (os.path.join drops the root).
c.CourseDirectory.submitted_directory = os.path.join(_work, "submitted")
c.CourseDirectory.autograded_directory = os.path.join(_work, "autograded")
c.CourseDirectory.feedback_directory = os.path.join(_work, "feedback")
# The gradebook: SQLite in the work folder, or any SQLAlchemy URL in $TLCOURSE_DB_URL (e.g.
# postgresql+psycopg://user@host/db when several graders write at once).
c.CourseDirectory.db_url = os.environ.get("TLCOURSE_DB_URL") or \
    "sqlite:///" + os.path.join(_work, "gradebook.db")

# The source notebooks' plain-text twins (solutions/<id>/<id>.py, see autograder/twins.py) hold
# the hidden tests: never copied into the release, nor next to an autograded submission (nbgrader
# copies every other file of an assignment's source folder that it does not ignore).
c.CourseDirectory.ignore.extend([twin_name(a) for a in assignments()])

# The release keeps only what a student needs: no solutions, no hidden tests, no outputs.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograding: a cell may take at most this long (a loop that never ends costs at most this).
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Feedback must never show the hidden tests' code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
