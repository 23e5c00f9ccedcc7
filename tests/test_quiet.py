"""No TensorFlow, absl or oneDNN log lines where a student reads (notebook outputs, the course command), while
real warnings and errors still show (course.quiet)."""

import os
import subprocess
import sys

import nbformat
import pytest

from course import paths, quiet, runner

# Lines as TensorFlow 2.21 prints them on a CPU build (copied from a course run's notebooks and output).
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796135221.414712    6273 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. To turn "
    "them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796135235.340536    6482 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796135297.613922    7335 util.cc:131] oneDNN supports DT_BOOL only on platforms with AVX-512. "
    "Falling back to the default Eigen-based implementation if present.",
    "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication (including code and "
    "outputs) is sent in plain text and is susceptible to eavesdropping.",
]
KEPT = [
    "/work/helpers/training.py:12: UserWarning: the dev loss did not fall",
    "E0000 00:00:1796135297.613922    7335 op_kernel.cc:1857] OP_REQUIRES failed at strided_slice_op.cc:117 : "
    "INVALID_ARGUMENT: slice index 5 of dimension 0 out of bounds.",
    "W0000 00:00:1796135297.613922    7335 loader.cc:10] a warning TensorFlow's own level setting decides on",
    "Traceback (most recent call last):",
    "FileNotFoundError: runs/x/features.npz does not exist.",
]
TF_LOG_MARKERS = (
    "absl::InitializeLog",
    "oneDNN",
    "TF_ENABLE_ONEDNN_OPTS",
    "cpu_feature_guard",
    "rebuild TensorFlow",
    "running over TCP without encryption",
)


@pytest.mark.parametrize("line", NOISE)
def test_tensorflow_notices_are_noise(line):
    assert quiet.is_noise(line)


@pytest.mark.parametrize("line", KEPT)
def test_warnings_errors_and_tracebacks_are_kept(line):
    assert not quiet.is_noise(line)


def test_setup_keeps_a_logging_level_the_user_chose(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet.setup(filter_stderr=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


@pytest.mark.course  # a fresh Python process importing TensorFlow
@pytest.mark.skipif(os.name == "nt", reason="standard error is filtered on POSIX only")
def test_importing_tensorflow_after_setup_prints_nothing_but_real_warnings(tmp_path):
    """In a fresh process, as in a notebook's kernel: TensorFlow loads and runs an op that makes oneDNN fall back
    (a boolean op); standard error then holds exactly the real warning, the real error line and the unfinished
    line written after them, in order."""
    script = (
        "from course import quiet\n"
        "quiet.setup()\n"
        "import os, sys, warnings\n"
        "import tensorflow as tf\n"
        "print(bool(tf.reduce_any(tf.constant([True]) & tf.constant([False])).numpy()))\n"
        f"os.write(2, {NOISE[4]!r}.encode() + b'\\n')\n"
        "warnings.warn('a real warning')\n"
        f"os.write(2, {KEPT[1]!r}.encode() + b'\\n')\n"
        "os.write(2, b'no newline at the end')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(paths.REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "False\n"
    assert result.stderr == f"<string>:7: UserWarning: a real warning\n{KEPT[1]}\nno newline at the end"


def tf_log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(marker in line for marker in TF_LOG_MARKERS)]


@pytest.mark.course
def test_the_course_run_shows_no_tensorflow_log_lines(course_run):
    """What a student reads: the executed notebooks' stderr outputs and the course command's own output."""
    run_dir, result = course_run
    found = {}
    for name in runner.NOTEBOOKS:
        notebook = nbformat.read(run_dir / "notebooks" / name, as_version=4)
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                if output.get("name") == "stderr" and tf_log_lines(output["text"]):
                    found[f"{name} {cell.get('id')}"] = tf_log_lines(output["text"])
    assert not found, f"TensorFlow log lines in the notebooks' outputs: {found}"
    assert not tf_log_lines(result.stdout + result.stderr), tf_log_lines(result.stdout + result.stderr)
