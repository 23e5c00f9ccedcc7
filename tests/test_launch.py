"""Launching the course wherever a student clicks (issue 26): Colab's versions admitted and installed without
touching Colab's own, a notebook opened alone says the one command that builds its inputs (``--until NN``),
the upload explorer under ipywidgets 7 and 8, Binder's postBuild caching the ImageNet weights, every platform's
TensorFlow, the licences, the citation, the changelog and badges that can point at a release tag."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from course import cli, overview, paths, runner
from course import parameters as params
from course.config import MissingInputError, notebook_before
from course.run_folder import RunFolder

REPO_ROOT = paths.REPO_ROOT
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import colab_setup  # noqa: E402
import notebook_headers  # noqa: E402


def colab_versions() -> dict[str, str]:
    """``{name: version}`` of .ci/colab-versions.txt (what .ci/colab installs as Colab has it)."""
    pins = {}
    for line in (REPO_ROOT / ".ci" / "colab-versions.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.strip().partition("==")
            pins[name] = version
    return pins


# ------------------------------------------------------------------------------------------ Python and pins


def test_python_3_11_to_3_13_are_admitted():
    supported = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert all(supported.contains(v) for v in ("3.11.0", "3.12.4", "3.13.0", "3.13.15"))
    assert not supported.contains("3.10.12")


def test_the_pins_admit_colabs_versions_of_every_library_colab_preinstalls():
    colab = colab_versions()
    assert {"tensorflow-cpu", "keras", "numpy", "ipywidgets", "ipykernel", "matplotlib", "pillow"} <= set(colab)
    requirements = {}
    for text in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(text)
        requirements.setdefault(requirement.name, requirement)
    for name, version in colab.items():
        if name == "notebook":  # Colab's classic interface: not a dependency of the course
            continue
        assert name in requirements, f"pyproject.toml has no {name}"
        assert requirements[name].specifier.contains(version), (
            f"pyproject.toml: {requirements[name]} refuses Colab's {name} {version}"
        )


@pytest.mark.parametrize(
    "machine, system, wanted",
    [
        ("x86_64", "Linux", "tensorflow-cpu"),
        ("AMD64", "Windows", "tensorflow-cpu"),
        ("aarch64", "Linux", "tensorflow"),  # Linux ARM: Docker on Apple Silicon, Graviton; no tensorflow-cpu wheel
        ("arm64", "Darwin", "tensorflow"),
    ],
)
def test_every_platform_gets_the_tensorflow_that_has_a_wheel_there(machine, system, wanted):
    environment = {
        "platform_machine": machine,
        "sys_platform": {"Linux": "linux", "Windows": "win32", "Darwin": "darwin"}[system],
        "platform_system": system,
    }
    chosen = [
        Requirement(text).name
        for text in PYPROJECT["project"]["dependencies"]
        if Requirement(text).name.startswith("tensorflow") and Requirement(text).marker.evaluate(environment)
    ]
    assert chosen == [wanted]


def test_an_intel_mac_is_told_why_and_where_to_go_instead():
    note = overview.platform_note("Darwin", "x86_64")
    assert "Intel Mac" in note and "2.16" in note and "Colab" in note and "docs/platforms.md" in note
    assert overview.platform_note("Darwin", "arm64") is None and overview.platform_note("Linux", "aarch64") is None
    assert (REPO_ROOT / "docs" / "platforms.md").is_file()
    cell = next(
        c
        for c in nbformat.read(paths.NOTEBOOKS_DIR / "00_start_here.ipynb", as_version=4).cells
        if "installed_requirements" in c.source
    )
    assert "overview.platform_note()" in cell.source, "notebook 00's set-up check shows the platform note"


def test_platforms_page_gives_powershell_beside_posix():
    text = (REPO_ROOT / "docs" / "platforms.md").read_text(encoding="utf-8")
    assert ".venv\\Scripts\\python" in text and ".venv/bin/python" in text
    assert "```powershell" in text and "```bash" in text
    assert "Intel Mac" in text and "aarch64" in text


# ------------------------------------------------------------------------------------------ Colab's set-up


def test_colab_setup_installs_what_colab_lacks_but_not_jupyterlab():
    to_install, notes = colab_setup.plan(version_of=colab_versions().get)
    names = {Requirement(r).name for r in to_install}
    assert {"gensim", "pycocoevalcap", "papermill"} <= names
    assert not names & (colab_setup.COLAB_PROVIDES | colab_setup.COLAB_SKIPS | set(colab_versions()))
    assert notes == [], "every Colab version is admitted by the pins: nothing to note"


def test_notebook_00_on_colab_does_not_ask_for_jupyterlab(monkeypatch):
    assert overview.NOT_NEEDED_ON_COLAB == colab_setup.COLAB_SKIPS
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    assert "jupyterlab" not in {row["package"] for row in overview.installed_requirements()}
    monkeypatch.delitem(sys.modules, "google.colab")
    assert "jupyterlab" in {row["package"] for row in overview.installed_requirements()}


def test_colab_setup_holds_every_installed_package_at_its_version(monkeypatch, tmp_path):
    class Distribution:
        def __init__(self, name, version):
            self.metadata, self.version = {"Name": name}, version

    held = colab_setup.constraints(
        [Distribution("NumPy", "2.1.3"), Distribution("captioning-course-helpers", "2026.1"), Distribution("x", "?!")]
    )
    assert held == ["numpy==2.1.3"]

    calls, results = [], [0]

    def pip_install(*arguments):
        calls.append(arguments)
        return subprocess.CompletedProcess(arguments, results[len(calls) - 1])

    monkeypatch.setattr(colab_setup, "constraints", lambda: ["numpy==2.1.3"])
    monkeypatch.setattr(colab_setup, "pip_install", pip_install)
    colab_setup.install_missing(["gensim==4.4.*"])
    assert len(calls) == 1 and calls[0][0] == "-c" and calls[0][2:] == ("gensim==4.4.*",)
    # pip cannot without changing a package Colab has: it installs anyway, saying a restart may be needed
    calls.clear()
    results[:] = [1, 0]
    colab_setup.install_missing(["gensim==4.4.*"])
    assert calls[1] == ("gensim==4.4.*",)


def test_the_colab_cell_installs_once_and_clones_the_ref():
    source = notebook_headers.install_source(notebook_headers.repository(), "notebooks/06_training.ipynb", "v2026.1")
    assert '"--branch", "v2026.1"' in source
    assert colab_setup.DONE_MARKER == notebook_headers.DONE_MARKER and f"/{colab_setup.DONE_MARKER}" in source
    assert source.rstrip().endswith('os.chdir("/content/image-captioning-course/notebooks")')


def test_badges_can_point_at_a_release_tag(tmp_path, monkeypatch):
    repo = notebook_headers.repository()
    badges = notebook_headers.badges_markdown(repo, "notebooks/00_start_here.ipynb", "v2026.1")
    assert f"/v2/gh/{repo}/v2026.1?labpath=" in badges and f"/github/{repo}/blob/v2026.1/notebooks/" in badges
    with pytest.raises(SystemExit, match="branch or tag"):
        notebook_headers.check_ref("v2026.1; rm -rf /")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    (tmp_path / "notebooks").mkdir()
    path = tmp_path / "notebooks" / "42.ipynb"
    nbformat.write(notebook, path)
    monkeypatch.setattr(notebook_headers, "REPO_ROOT", tmp_path)
    assert notebook_headers.main(["--ref", "v2026.1", str(path)]) == 0
    assert notebook_headers.main(["--check", "--ref", "v2026.1", str(path)]) == 0
    assert notebook_headers.main(["--check", str(path)]) == 1  # the committed notebooks say main


# ------------------------------------------------------------------------------------------ --until and missing inputs


def test_until_runs_the_notebooks_up_to_and_including_nn(monkeypatch, tmp_path):
    ran = []
    monkeypatch.setattr(runner, "run_course", lambda parameters, run_dir, notebooks, timeout: ran.append(notebooks))
    monkeypatch.setattr(runner, "summary", lambda run_dir: "")
    assert cli.main(["run", "--until", "05", "--run-dir", str(tmp_path / "a")]) == 0
    assert [n[:2] for n in ran[-1]] == ["00", "01", "02", "03", "04", "05"]
    assert cli.main(["run", "--until", "9", "--skip", "00", "--run-dir", str(tmp_path / "b")]) == 0
    assert [n[:2] for n in ran[-1]] == ["01", "02", "03", "04", "05", "06", "06", "07", "08", "09"]  # 06b too


@pytest.mark.parametrize("until", ["42", "x5"])
def test_an_until_that_names_no_notebook_is_one_line_and_exit_2(until, capsys, tmp_path):
    assert cli.main(["run", "--until", until, "--run-dir", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"--until {until} matches no notebook" in error
    assert not (tmp_path / "run").exists()


def test_notebook_before():
    assert notebook_before("06") == "05" and notebook_before("10_visual_attention.ipynb") == "09"
    assert notebook_before("00") is None and notebook_before("99") is None


def test_a_notebook_opened_alone_gives_the_command_that_builds_its_inputs(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: sys.executable)  # `!python` is this kernel's Python
    # the default run folder of the default parameters: the command is the plain one-liner
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    folder = RunFolder.open("", {"RUN_DIR": ""}, notebook="06")
    with pytest.raises(MissingInputError) as error:
        folder.load_features()
    assert error.value.command == "python -m helpers run --until 05"
    message = str(error.value)
    assert "features.npz" in message and "03_feature_extraction" in message and "\n" not in message
    assert "`!python -m helpers run --until 05`" in message and "terminal" in message
    # a kernel whose `!python` is another Python (a virtual environment not activated): the cell names its own
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/elsewhere/python")
    with pytest.raises(MissingInputError) as error:
        folder.load_features()
    assert f"`!{sys.executable} -m helpers run --until 05`" in str(error.value)
    assert "or `python -m helpers run --until 05` in a terminal" in str(error.value)
    with pytest.raises(MissingInputError, match="no 'text' section.*--until 05"):
        folder.load_text()

    # on Colab: the one-line cell first
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    with pytest.raises(MissingInputError, match=r"run the cell `!python -m helpers run --until 05`"):
        folder.load_features()


def test_the_command_carries_the_parameters_and_the_run_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    # a chosen folder, and a parameter not at its default: both are in the command, which the CLI accepts
    folder = RunFolder.open(tmp_path / "my run", {"EPOCHS": 3, "BATCH_SIZE": 32}, notebook="06")
    command = folder.build_command("05_merge_lstm_model.ipynb")
    assert command.startswith("python -m helpers run --until 05 ")
    assert "-p EPOCHS 3" in command and "-p BATCH_SIZE 32" in command
    assert f"--run-dir '{(tmp_path / 'my run').resolve()}'" in command
    # the default folder of non-default parameters: no --run-dir needed
    folder = RunFolder.open("", {"DATASET": "sample", "BEAM_WIDTH": 5}, notebook="07")
    assert folder.build_command("06_training.ipynb") == "python -m helpers run --until 06 -p BEAM_WIDTH 5"
    args = cli.parser().parse_args(folder.build_command().split()[3:])
    assert args.until == "06" and args.parameter == [["BEAM_WIDTH", "5"]]
    assert params.parse_value("5") == 5
    # opened outside a notebook (python -m helpers caption): up to the notebook that writes the file
    outside = RunFolder.existing(folder.path)
    with pytest.raises(MissingInputError, match=r"Build it with `python -m helpers run --until 06"):
        outside.load_trained_model()


# ------------------------------------------------------------------------------------------ the upload explorer


IPYWIDGETS_8_VALUE = (
    {"name": "dog.jpg", "type": "image/jpeg", "size": 3, "last_modified": 0, "content": memoryview(b"abc")},
)
IPYWIDGETS_7_VALUE = {
    "dog.jpg": {"metadata": {"name": "dog.jpg", "type": "image/jpeg", "size": 3, "lastModified": 0}, "content": b"abc"}
}


@pytest.mark.parametrize("value", [IPYWIDGETS_8_VALUE, IPYWIDGETS_7_VALUE], ids=["ipywidgets8", "ipywidgets7"])
def test_an_upload_is_read_the_ipywidgets_7_and_the_ipywidgets_8_way(value):
    from helpers.visualization import uploaded_files

    assert uploaded_files(value) == [("dog.jpg", b"abc")]


def test_nothing_uploaded_is_nothing():
    from helpers.visualization import uploaded_files

    assert uploaded_files(()) == [] and uploaded_files({}) == [] and uploaded_files(None) == []


def simulate_upload(upload, name: str, content: bytes) -> None:
    """What the browser sends to a FileUpload widget (``set_state``, as from the front end), in the installed
    ipywidgets' own way."""
    if hasattr(upload, "_counter"):  # ipywidgets 7: metadata and data, and the counter that builds value
        metadata = [{"name": name, "type": "image/png", "size": len(content), "lastModified": 0}]
        upload.set_state({"metadata": metadata, "data": [memoryview(content)], "_counter": upload._counter + 1})
    else:  # ipywidgets 8: value itself
        entry = {"name": name, "type": "image/png", "size": len(content), "last_modified": 0}
        upload.set_state({"value": [{**entry, "content": memoryview(content)}]})


def test_the_explorer_captions_an_uploaded_photo_with_the_installed_ipywidgets(monkeypatch, tmp_path):
    """The explorer's upload path end to end with real widgets (.ci/colab runs this under ipywidgets 7)."""
    import io

    import numpy as np
    from PIL import Image

    from helpers import visualization

    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(visualization, "_live_kernel", lambda: True)
    monkeypatch.delenv(visualization.UNATTENDED_VARIABLE, raising=False)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    seen = []

    class Captioner:
        def features(self, photo):
            seen.append((Path(photo).suffix, Path(photo).read_bytes()))
            return np.zeros(4, dtype="float32")

        def caption(self, rows, beam=1):
            return [f"a caption, beam {beam}"] * len(rows)

    (tmp_path / "a.png").write_bytes(b"not used")
    explorer = visualization.caption_explorer(
        Captioner(), {"a.png": np.ones(4, dtype="float32")}, ["a.png"], tmp_path, {"a.png": ["startseq a endseq"]}
    )
    upload = explorer.children[0].children[1]
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    simulate_upload(upload, "my photo.png", buffer.getvalue())
    assert seen == [(".png", buffer.getvalue())], "the uploaded bytes reached the captioner"


# ------------------------------------------------------------------------------------------ Binder


def test_binder_postbuild_caches_the_imagenet_weights_and_says_so_when_it_cannot(tmp_path):
    path = REPO_ROOT / "binder" / "postBuild"
    text = path.read_text(encoding="utf-8")
    assert 'keras.applications.MobileNetV2(weights="imagenet", include_top=False)' in text
    assert "postBuild: WARNING: the MobileNetV2 ImageNet weights could not be cached" in text
    # A failed download: the build goes on (exit 0), saying so in one line. A fake python fails the download only.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text(
        '#!/bin/sh\nif [ "$1" = "-" ]; then cat >/dev/null; echo "no network" >&2; exit 1; fi\n'
    )
    (fake / "python").chmod(0o755)
    result = subprocess.run(
        ["bash", str(path)],
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "postBuild: WARNING: the MobileNetV2 ImageNet weights could not be cached" in result.stderr


# ------------------------------------------------------------------------------------------ licences, citation, release


def test_licence_files_are_one_licence_each():
    mit = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert mit.startswith("MIT License") and "Creative Commons" not in mit and "CC BY" not in mit
    content = (REPO_ROOT / "LICENSE-CC-BY-4.0").read_text(encoding="utf-8")
    assert "Attribution 4.0 International" in content and "https://creativecommons.org/licenses/by/4.0/" in content


def test_citation_names_both_licences_a_release_date_and_the_version():
    citation = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["license"] == ["MIT", "CC-BY-4.0"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(citation["date-released"]))
    assert citation["version"] == PYPROJECT["project"]["version"] == "2026.1"
    import helpers

    assert helpers.__version__ == PYPROJECT["project"]["version"]


def test_the_changelog_has_an_entry_for_the_version_and_the_tag_scheme():
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    version = PYPROJECT["project"]["version"]
    assert re.fullmatch(r"\d{4}\.\d+", version)
    assert re.search(rf"^## {re.escape(version)} ", changelog, flags=re.M), f"CHANGELOG.md: no '## {version}' entry"
    assert f"v{version}" in changelog and "vYYYY.N" in changelog


def test_the_course_commands_kernels_start_without_debugpys_frozen_modules_warning(monkeypatch):
    """ipykernel 6.17 (Colab's) on Python 3.13: four lines of debugpy warning per kernel, unless this is set."""
    from course import quiet

    monkeypatch.delenv("PYDEVD_DISABLE_FILE_VALIDATION", raising=False)
    quiet.setup(filter_stderr=False)
    assert os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] == "1"
