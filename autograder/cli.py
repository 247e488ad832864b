"""The ``course`` command: thin click wrappers over the library functions.

Each command loads course.yml (found from the current folder upwards, or
``--course-dir``), calls one function of the package and prints its result.

Exit statuses:

* 0: done, nothing left undone;
* 1: the run completed and printed its report, but some items in it failed (a
  refused or unreadable file in ``collect``, a failed submission in ``autograde``, a
  page that could not be written in ``feedback``; each command's help says what
  counts), or ``check`` found less than full marks;
* 2: nothing (or nothing more) was done, for a reason printed as one line: a
  :class:`~autograder.errors.UserError` (a bad course.yml, an unknown assignment, a
  missing data file, an unreadable notebook, a busy course, a locked gradebook) or
  the machine refusing a file (a full disk, a read-only folder, a permission), named
  with its path.

Any other exception is a bug and shows its traceback.  Names that come from outside
(ids, file names, messages) are printed with their control characters visible and
without markup interpretation (:mod:`autograder.display`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console

from . import __version__
from .display import text as shown
from .display import visible
from .environment import reuse_freed_memory, single_threaded_blas, skip_slow_optional_imports
from .errors import UserError
from .fileio import ENVIRONMENT_ERRNOS, os_error_text

skip_slow_optional_imports()  # before any command imports nbformat (jsonschema)
single_threaded_blas()  # before any command imports numpy
reuse_freed_memory()

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class _Failed(click.ClickException):
    exit_code = 2

    def show(self, file=None) -> None:
        err_console.print("[bold red]error:[/]", end=" ")
        err_console.print(shown(self.format_message(), keep_newlines=True), soft_wrap=True)


def _run(fn, *args, **kwargs):
    """Call ``fn``; a UserError, a data file that cannot be had, or a file the machine
    refuses (a full disk, a read-only folder) becomes one line."""
    from course_data import ChecksumMismatch, DataUnavailable

    try:
        return fn(*args, **kwargs)
    except (UserError, DataUnavailable, ChecksumMismatch) as exc:
        raise _Failed(str(exc)) from None
    except OSError as exc:
        if exc.errno not in ENVIRONMENT_ERRNOS:
            raise
        raise _Failed(visible(os_error_text(exc))) from None


def _say(line: str) -> None:
    console.print(shown(line, keep_newlines=True), soft_wrap=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="course")
@click.option("--course-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Course repository (default: found from the current folder upwards).")
@click.pass_context
def main(ctx: click.Context, course_dir: Path | None) -> None:
    """An auto-graded NumPy course on the HST/STIS spectrum of 3C120."""
    from .environment import ensure_alembic_on_path

    ensure_alembic_on_path()  # (not from nbgrader_adapter: nbgrader takes 2 s to import)
    ctx.obj = {"course_dir": course_dir}


def _course(ctx: click.Context, *, check_files: bool = True):
    from .config import load_course

    return _run(load_course, ctx.obj["course_dir"], check_files=check_files)


@main.command()
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Check course.yml and every source notebook against each other."""
    from .validate import validate_course

    course = _course(ctx)
    problems = validate_course(course)
    if problems:
        raise _Failed("the course is not consistent:\n  " + "\n  ".join(problems))
    n = sum(len(a.questions) for a in course.assignments)
    _say(f"course.yml is valid: {len(course.assignments)} assignments, {n} questions, "
         f"{sum(a.total for a in course.assignments):g} points")


@main.command()
@click.option("--path", "local", type=click.Path(path_type=Path), default=None,
              help="A local copy (the file, or a folder holding it): verified, then stored in the cache.")
@click.pass_context
def data(ctx: click.Context, local: Path | None) -> None:
    """Make the course's data file available (local copy, cache or download), sha256-checked."""
    from .data import ensure_data

    course = _course(ctx, check_files=False)
    _say(f"verified: {_run(ensure_data, course, local=local)}")


@main.command()
@click.option("--output", type=click.Path(path_type=Path), default=None, help="PNG of the final spectrum.")
@click.pass_context
def extract(ctx: click.Context, output: Path | None) -> None:
    """Run the reference extraction on the real file; print figures and save the spectrum plot."""
    from .demo import reference_extraction

    course = _course(ctx, check_files=False)
    _say(_run(reference_extraction, course, output=output).render())


@main.command()
@click.argument("assignments", nargs=-1)
@click.option("--exchange", "to_exchange", is_flag=True,
              help="Then publish them to nbgrader's exchange (JupyterHub; course.yml's exchange.root), where "
                   "students fetch them with nbgrader's fetch_assignment or the Assignment List.")
@click.pass_context
def release(ctx: click.Context, assignments: tuple[str, ...], to_exchange: bool) -> None:
    """Generate the student versions in release/ (all assignments by default).

    Each assignment's due date (course.yml) goes into nbgrader's gradebook too.
    """
    from .gradebook import check_gradebook_file
    from .release import release as do_release

    course = _course(ctx)
    _run(check_gradebook_file, course)  # (nbgrader's own errors about a damaged one are tracebacks)
    if to_exchange:
        from .exchange import prepare_exchange

        if course.exchange is None:
            raise _Failed("course.yml names no exchange: add `exchange: {root: /srv/nbgrader/exchange}` first")
        _run(prepare_exchange, course)
    for p in _run(do_release, course, list(assignments) or None):
        _say(f"released {p.relative_to(course.root)}")
    if to_exchange:
        from .exchange import release_assignments, student_config

        for aid in _run(release_assignments, course, list(assignments) or None):
            _say(f"published {aid} to the exchange {course.exchange.root}")
        _say("students' nbgrader configuration (on JupyterHub: /etc/jupyter/nbgrader_config.py):\n"
             + student_config(course))


@main.command()
@click.argument("source", type=click.Path(path_type=Path), required=False)
@click.option("--lms", type=click.Choice(["canvas", "moodle", "pattern", "folder"]), default=None,
              help="SOURCE is this LMS's submissions download (default: course.yml's lms.kind, else folder: "
                   "<student>/<assignment>/<notebook>.ipynb or <student>_<notebook>.ipynb).")
@click.option("--worksheet", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Moodle's grading worksheet (CSV): participant ids and submission times.")
@click.option("--assignment", default=None, help="Only this assignment's notebooks (an LMS download).")
@click.option("--exchange", "from_exchange", is_flag=True,
              help="Collect from nbgrader's exchange (JupyterHub; course.yml's exchange.root) instead of SOURCE.")
@click.pass_context
def collect(ctx: click.Context, source: Path | None, lms: str | None, worksheet: Path | None,
            assignment: str | None, from_exchange: bool) -> None:
    """Take submissions into submitted/: a folder, a zip, an LMS's download, or the exchange.

    Prints what was taken, refused, ignored and warned about, one line per file.  Exit
    status 1 when any file was refused (unknown name, an unknown student, a link,
    unreadable, not written...) or taken with a warning (a notebook the grader will
    score 0); clutter such as .DS_Store, __MACOSX/ and .ipynb_checkpoints is ignored and
    does not count.
    """
    from .collect import collect as do_collect

    course = _course(ctx)
    if from_exchange:
        from .exchange import collect_from_exchange

        if source is not None or lms or worksheet:
            raise _Failed("--exchange takes no SOURCE, --lms or --worksheet (it reads nbgrader's exchange)")
        reports = _run(collect_from_exchange, course, assignments=[assignment] if assignment else None)
        for report in reports:
            _say(report.summary())
        if any(r.failed for r in reports):
            sys.exit(1)
        return
    if source is None:
        raise _Failed("say what to collect: a folder or zip (SOURCE), or --exchange")
    if not source.exists():
        raise _Failed(f"{visible(source)}: no such file or folder")
    kind = lms or course.lms.kind or "folder"
    report = _run(do_collect, course, source, lms=kind, worksheet=worksheet, assignment=assignment)
    _say(report.summary())
    if report.failed:
        sys.exit(1)


@main.command()
@click.argument("assignments", nargs=-1)
@click.option("--student", "students", multiple=True, help="Only this student (repeatable).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: one per core).")
@click.option("--scheduler", default=None, help="Address of a dask.distributed scheduler to send the work to.")
@click.option("--force", is_flag=True, help="Regrade submissions graded before from the same files and settings.")
@click.pass_context
def autograde(ctx, assignments, students, jobs, scheduler, force) -> None:
    """Grade collected submissions in parallel into nbgrader's gradebook.

    Prints one FAILED line per submission that could not be graded, with the reason
    (the next run grades it again), then the summary.  Exit status 1 when any
    submission failed; a notebook that is unreadable or scores 0 is graded, not failed
    (the problem is in the summary and the feedback).  A submission folder holding none
    of the assignment's notebooks fails, naming the notebook it should hold (nothing is
    recorded: it stays missing).  A gradebook locked by another
    program when the run starts, or too little memory for grading.memory_mb, stops it
    with one line (exit status 2).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from .autograde import autograde as do_autograde
    from .autograde import find_submissions, summary_table

    course = _course(ctx)
    subs = _run(find_submissions, course, list(assignments) or None, list(students) or None)
    if not subs:
        raise _Failed("no submissions to grade: run `course collect PATH` first")
    if scheduler is None:  # (a cluster's workers find their own)
        from .sandbox.isolation import mode_notice

        notice = mode_notice()
        if notice:
            err_console.print(shown(notice, "yellow"), soft_wrap=True)
    failures, done = [], []
    started = time.monotonic()
    with Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("grading", total=len(subs))

        def on_result(r):
            progress.advance(task)
            done.append(r)
            if r.status == "failed":
                failures.append(r)
                progress.console.print(shown("FAILED", "red"), shown(f"{r.student}/{r.assignment}: {r.error}"),
                                       soft_wrap=True)  # one line, however long

        try:
            results = _run(do_autograde, course, assignments=list(assignments) or None,
                           students=list(students) or None, jobs=jobs, scheduler=scheduler, force=force,
                           on_result=on_result)
        except KeyboardInterrupt:
            graded = sum(r.status == "graded" for r in done)
            err_console.print(shown(f"interrupted: {graded} submissions graded and saved in this run; the ones "
                                    "being graded were left as they were. `course autograde` again grades "
                                    "the rest."), soft_wrap=True)
            sys.exit(130)
    console.print(summary_table(results))
    graded = sum(r.status == "graded" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    _say(f"{graded} graded, {skipped} already graded (skipped), {len(failures)} failed "
         f"in {time.monotonic() - started:.1f} s")
    if failures:
        sys.exit(1)


@main.command()
@click.argument("notebook", type=click.Path(path_type=Path))
@click.option("--assignment", default=None, help="The assignment, if the file name does not say it.")
@click.pass_context
def check(ctx: click.Context, notebook: Path, assignment: str | None) -> None:
    """Grade one notebook locally as the autograder would (exit 0 only on full marks)."""
    from .selfcheck import check_notebook

    course = _course(ctx)
    report = _run(check_notebook, course, notebook, assignment_id=assignment)
    console.print(report.table())
    for p in report.problems:
        _say(f"note: {visible(p)}")
    if not report.full_marks:
        sys.exit(1)


@main.command()
@click.argument("assignments", nargs=-1)
@click.option("--student", "students", multiple=True, help="Only this student (repeatable).")
@click.option("--release", "to_exchange", is_flag=True,
              help="Then publish the pages to nbgrader's exchange, where students fetch them with "
                   "nbgrader's fetch_feedback (submissions that came through the exchange).")
@click.pass_context
def feedback(ctx, assignments, students, to_exchange: bool) -> None:
    """Write an HTML feedback file per student and assignment into feedback/.

    feedback/<student>/<assignment>/feedback.html, and <notebook>.html per notebook
    (nbgrader's layout).  Every page that could not be made is listed with its reason.
    Exit status 1 when a page of a graded submission failed (unreadable record, could
    not be rendered or written); a student who did not submit, or is not graded yet, is
    skipped, not failed.  A feedback folder that cannot be written (read-only) stops the
    run before any page, with one line (exit status 2).
    """
    from .feedback import write_feedback

    course = _course(ctx)
    if to_exchange and course.exchange is None:
        raise _Failed("course.yml names no exchange: add `exchange: {root: /srv/nbgrader/exchange}` first")
    result = _run(write_feedback, course, assignments=list(assignments) or None, students=list(students) or None)
    for p in result:
        _say(f"wrote {visible(p)}")
    _say(result.summary())
    if to_exchange:
        from .exchange import release_feedback

        _say(_run(release_feedback, course, assignments=list(assignments) or None,
                  students=list(students) or None).summary())
    if result.failed:
        sys.exit(1)


def _export_formats() -> list[str]:
    from .export import FORMATS

    return list(FORMATS)


@main.command()
@click.option("--format", "fmt", type=click.Choice(_export_formats()), default="csv", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="File to write (default exports/grades.<format>; exports/grades-canvas.csv, grades-moodle.csv).")
@click.pass_context
def export(ctx, fmt: str, output: Path | None) -> None:
    """Export the gradebook: a row per student, a column per question and per assignment.

    csv and json: every question, each assignment's raw score, late penalty and total.
    canvas and moodle: the CSV those LMSs' grade imports take (one column per assignment,
    students from the roster; see course.yml's lms_id).
    """
    from .export import export_grades

    course = _course(ctx)
    _say(_run(export_grades, course, fmt=fmt, out=output).summary())


@main.command()
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.pass_context
def report(ctx, output_dir: Path | None) -> None:
    """Class report: histogram of totals (PNG) and per-question pass rates."""
    from .report import class_report

    course = _course(ctx)
    result = _run(class_report, course, out_dir=output_dir)
    console.print(result.table())
    _say(result.summary())


@main.command()
@click.argument("assignments", nargs=-1)
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="Flag pairs scoring at least this (default: course.yml's similarity.threshold).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the CSV, heat maps and pages go (default reports/similarity/).")
@click.pass_context
def similarity(ctx, assignments, threshold: float | None, output_dir: Path | None) -> None:
    """Which students share their code: ranked pairs, a CSV, heat maps, side-by-side pages."""
    from .similarity import similarity_report

    course = _course(ctx)
    result = _run(similarity_report, course, assignments=list(assignments) or None, out_dir=output_dir,
                  threshold=threshold)
    console.print(result.table())
    _say(result.summary())


@main.group()
def roster() -> None:
    """The class roster: students and their LMS identities (nbgrader's student table)."""


@roster.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--layout", type=click.Choice(["course", "canvas", "moodle"]), default=None,
              help="The file's layout (default: told from its header row).")
@click.option("--id-from", "id_from", type=click.Choice(["id", "lms_login", "sis_user_id", "lms_user_id", "email"]),
              default=None, help="Which column gives the student id (default: student id; Canvas: SIS Login ID; "
                                 "Moodle: Username, else Email address).")
@click.pass_context
def roster_import(ctx, file: Path, layout: str | None, id_from: str | None) -> None:
    """Import a roster CSV: this course's columns, or Canvas's or Moodle's export as it comes.

    Rows that cannot be imported (no id, an unsafe id, an id, LMS id, login or email
    that another student has, Canvas's test student) are listed with their line and
    reason; exit status 1 when there are any.  Importing twice changes nothing.
    """
    from .roster import import_roster

    course = _course(ctx, check_files=False)
    result = _run(import_roster, course, file, layout=layout, id_from=id_from)
    _say(result.summary())
    if result.failed:
        sys.exit(1)


@roster.command("list")
@click.pass_context
def roster_list(ctx) -> None:
    """Show the roster (the gradebook's students and their LMS identities)."""
    from .roster import load_roster

    course = _course(ctx, check_files=False)
    console.print(_run(load_roster, course).table())


@main.command()
@click.pass_context
def late(ctx) -> None:
    """Late submissions and their penalties (course.yml's due dates and late policies).

    Puts course.yml's due dates into the gradebook and applies each assignment's late
    policy to every submission's current score (after grading by hand, a penalty
    follows the new score), then lists the late submissions, with times in course.yml's
    schedule.timezone (as on the feedback pages).
    """
    from .late import late_report

    course = _course(ctx, check_files=False)
    _say(_run(late_report, course).summary())


@main.command()
@click.argument("assignment")
@click.argument("student")
@click.option("--days", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--hours", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.pass_context
def extension(ctx, assignment: str, student: str, days: float, hours: float) -> None:
    """Give a student more time on an assignment (nbgrader's extension; 0 takes it back).

    The student's due date moves by that much (it is printed, in course.yml's time zone),
    and every late penalty is applied again.
    The student must be on the roster and the assignment released; they need not have
    submitted yet (an extension is usually given before the due date).
    """
    from .late import grant_extension

    course = _course(ctx, check_files=False)
    report = _run(grant_extension, course, assignment=assignment, student=student, days=days, hours=hours)
    _say(report.summary())


@main.command()
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None)
@click.pass_context
def demo(ctx, jobs: int | None) -> None:
    """The whole course on the bundled example class: data, release, collect, grade, feedback, export, report."""
    from .demo import run_demo

    course = _course(ctx)
    _run(run_demo, course, console=console, jobs=jobs)


if __name__ == "__main__":
    main()
