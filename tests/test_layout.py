"""Where code lives: the grader ships without the course's test kit."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add(node.module or "")
    return found


def test_the_grader_and_the_library_import_nothing_from_the_test_kit():
    for package in ("autograder", "tlcourse"):
        for path in sorted((ROOT / package).rglob("*.py")):
            bad = {m for m in _imports(path) if m == "testkit" or m.startswith("testkit.")}
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: test-only code"


def test_mutant_modules_have_importable_names():
    from autograder import course
    from testkit import mutants

    for assignment in course.assignments():
        assert mutants.load(assignment), f"no mutants for {assignment}"
        assert (ROOT / "testkit" / "mutants" / f"{mutants.module_name(assignment)}.py").is_file()
