"""Reading berth.yaml, checking requirements, single-file bundles and archives."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from serving.bundle import (
    FRAMEWORKS,
    BundleError,
    check_archive,
    check_requirements,
    extract_archive,
    read_bundle,
    write_single_file_bundle,
)

EXAMPLE = {"framework": "sklearn", "model_file": "model.joblib", "example_input": [{"x": 1.0}]}


def make_bundle(root: Path, manifest: dict | str, files: tuple[str, ...] = ("model.joblib",)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest, sort_keys=False)
    (root / "berth.yaml").write_text(text)
    for name in files:
        (root / name).write_bytes(b"artifact")
    return root


def bundle_error(root: Path) -> str:
    with pytest.raises(BundleError) as raised:
        read_bundle(root)
    assert raised.value.status == 400
    return raised.value.message


# --- berth.yaml ----------------------------------------------------------------------

def test_it_reads_the_example_python_bundle(iris_bundle) -> None:
    spec = read_bundle(iris_bundle("python"))
    assert spec.framework == "python"
    assert spec.entry_point == "model:IrisClassifier"
    assert spec.model_file is None
    assert spec.examples is not None
    assert len(spec.examples) == 2
    assert "scikit-learn>=1.3" in spec.requirements


def test_it_reads_example_input_from_a_json_file(tmp_path: Path) -> None:
    manifest = {"framework": "sklearn", "model_file": "model.joblib", "example_input_file": "example.json"}
    root = make_bundle(tmp_path / "b", manifest)
    (root / "example.json").write_text('[{"x": 1}, {"x": 2}]')
    assert read_bundle(root).examples == [{"x": 1}, {"x": 2}]


def test_it_asks_for_a_berth_yaml_when_there_is_none(tmp_path: Path) -> None:
    assert "berth.yaml not found" in bundle_error(tmp_path)


def test_it_points_at_the_line_of_a_yaml_syntax_error(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b", "framework: sklearn\nmodel_file: [model.joblib\nexample_input: 1\n")
    message = bundle_error(root)
    assert message.startswith("berth.yaml is not valid YAML (line 3")


def test_it_lists_the_valid_frameworks_for_an_unknown_one(tmp_path: Path) -> None:
    message = bundle_error(make_bundle(tmp_path / "b", EXAMPLE | {"framework": "tensorflow"}))
    assert message == f"unknown framework 'tensorflow'; use one of {', '.join(FRAMEWORKS)}"


def test_it_suggests_the_key_meant_by_a_typo(tmp_path: Path) -> None:
    manifest = {"framework": "sklearn", "modelfile": "model.joblib"}
    assert "unknown key 'modelfile' in berth.yaml; did you mean 'model_file'?" in bundle_error(
        make_bundle(tmp_path / "b", manifest)
    )


def test_it_asks_for_the_model_file(tmp_path: Path) -> None:
    message = bundle_error(make_bundle(tmp_path / "b", {"framework": "xgboost"}))
    assert "needs model_file" in message


def test_it_says_when_the_model_file_is_not_in_the_bundle(tmp_path: Path) -> None:
    message = bundle_error(make_bundle(tmp_path / "b", EXAMPLE, files=()))
    assert message == "model_file 'model.joblib' not found in the bundle"


@pytest.mark.parametrize("model_file", ["../outside.joblib", "/etc/passwd"])
def test_it_refuses_a_model_file_outside_the_bundle(tmp_path: Path, model_file: str) -> None:
    (tmp_path / "outside.joblib").write_bytes(b"x")
    message = bundle_error(make_bundle(tmp_path / "b", EXAMPLE | {"model_file": model_file}))
    assert "points outside the bundle" in message


def test_it_asks_a_python_build_for_an_entry_point(tmp_path: Path) -> None:
    message = bundle_error(make_bundle(tmp_path / "b", {"framework": "python"}, files=()))
    assert "entry_point: <module>:<Class>" in message


def test_it_says_when_the_entry_point_module_is_missing(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b", {"framework": "python", "entry_point": "model:Model"}, files=())
    assert bundle_error(root) == "entry_point module 'model' not found: add model.py to the bundle"


@pytest.mark.parametrize(
    ("example_input", "message"),
    [
        ("a string", "example_input must be a non-empty list of records"),
        ([], "example_input must be a non-empty list of records"),
        ([{"x": 1}, [1, 2]], "example_input record 2 must be a mapping"),
    ],
)
def test_it_explains_example_input_that_is_not_a_list_of_records(tmp_path, example_input, message) -> None:
    assert message in bundle_error(make_bundle(tmp_path / "b", EXAMPLE | {"example_input": example_input}))


def test_it_takes_a_single_example_record(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b", EXAMPLE | {"example_input": {"x": 1.0}})
    assert read_bundle(root).examples == [{"x": 1.0}]


def test_it_reads_what_input_schema_declares_per_field(tmp_path: Path) -> None:
    declared = {"x": {"nullable": True, "model_dtype": "float32"}}
    assert read_bundle(make_bundle(tmp_path / "b", EXAMPLE | {"input_schema": declared})).input_schema == declared


@pytest.mark.parametrize(
    ("input_schema", "message"),
    [
        ([{"name": "x"}], "input_schema must map field names to what they declare"),
        ({"y": {"nullable": True}}, "input_schema declares field 'y', which example_input does not have; fields: x"),
        ({"x": {"nullabel": True}}, "input_schema field 'x' must declare nullable and/or model_dtype"),
        ({"x": {"nullable": "yes"}}, "input_schema field 'x': nullable must be true or false"),
        ({"x": {"model_dtype": "float16"}}, "input_schema field 'x': model_dtype must be one of float32, float64, int32"),
    ],
)
def test_it_explains_an_input_schema_it_cannot_use(tmp_path: Path, input_schema: object, message: str) -> None:
    assert bundle_error(make_bundle(tmp_path / "b", EXAMPLE | {"input_schema": input_schema})).startswith(message)


def test_input_schema_needs_example_input(tmp_path: Path) -> None:
    manifest = {"framework": "sklearn", "model_file": "model.joblib", "input_schema": {"x": {"nullable": True}}}
    assert "add example_input too" in bundle_error(make_bundle(tmp_path / "b", manifest))


def test_it_refuses_a_requirement_pip_cannot_parse(tmp_path: Path) -> None:
    message = bundle_error(make_bundle(tmp_path / "b", EXAMPLE | {"requirements": ["scikit-learn=>1.3"]}))
    assert message.startswith("requirement 'scikit-learn=>1.3' is not a valid pip requirement")


def test_it_refuses_requirements_that_are_not_a_list(tmp_path: Path) -> None:
    message = bundle_error(make_bundle(tmp_path / "b", EXAMPLE | {"requirements": "scikit-learn"}))
    assert "requirements must be a list" in message


# --- requirements --------------------------------------------------------------------

def test_requirements_met_by_the_serving_environment_pass() -> None:
    check_requirements(["scikit-learn>=1.0", "pandas", "numpy>=1; python_version < '3'", "xgboost>=2"])


def test_it_says_which_requirement_is_not_installed_and_what_was_found() -> None:
    import sklearn

    with pytest.raises(BundleError) as raised:
        check_requirements(["scikit-learn>=999"])
    assert raised.value.message == (
        f"requirement scikit-learn>=999 is not installed in the serving environment (found {sklearn.__version__})"
    )


def test_it_says_when_a_required_package_is_absent() -> None:
    with pytest.raises(BundleError, match=r"requirement berth-no-such-package==1 .* \(found nothing\)"):
        check_requirements(["berth-no-such-package==1"])


# --- single model file ---------------------------------------------------------------

def test_a_single_model_file_becomes_a_bundle(tmp_path: Path, iris_bundle) -> None:
    model_file = iris_bundle("onnx") / "model.onnx"
    spec = write_single_file_bundle(model_file, "onnx", tmp_path / "built", [{"x": 1.0}])
    assert spec.framework == "onnx"
    assert spec.model_file == "model.onnx"
    assert (tmp_path / "built" / "model.onnx").read_bytes() == model_file.read_bytes()
    assert yaml.safe_load((tmp_path / "built" / "berth.yaml").read_text())["example_input"] == [{"x": 1.0}]


def test_a_single_file_cannot_be_a_python_build(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text("")
    with pytest.raises(BundleError, match="python build needs a bundle"):
        write_single_file_bundle(tmp_path / "model.py", "python", tmp_path / "built", None)


# --- archives ------------------------------------------------------------------------

def zip_archive(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return path


def tar_archive(path: Path, entries: dict[str, bytes], special: Sequence[tarfile.TarInfo] = ()) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in special:
            archive.addfile(info)
    return path


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


BUNDLE_FILES = {"berth.yaml": yaml.safe_dump(EXAMPLE).encode(), "model.joblib": b"artifact"}


def assert_nothing_written(tmp_path: Path, dest: Path, archive: Path) -> None:
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]


def test_it_extracts_a_flat_zip_bundle(tmp_path: Path) -> None:
    archive = zip_archive(tmp_path / "b.zip", BUNDLE_FILES)
    dest = extract_archive(archive, tmp_path / "out" / "bundle")
    assert sorted(p.name for p in dest.iterdir()) == ["berth.yaml", "model.joblib"]
    assert read_bundle(dest).framework == "sklearn"


def test_a_single_top_level_folder_with_berth_yaml_becomes_the_bundle_root(tmp_path: Path) -> None:
    entries = {f"iris/{name}": data for name, data in BUNDLE_FILES.items()}
    archive = tar_archive(tmp_path / "b.tar.gz", entries, [link("iris/latest.joblib", "model.joblib")])
    dest = extract_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in dest.iterdir()) == ["berth.yaml", "latest.joblib", "model.joblib"]
    assert (dest / "latest.joblib").read_bytes() == b"artifact"


def test_it_ignores_the_macos_metadata_folder_when_finding_the_root(tmp_path: Path) -> None:
    entries = {f"iris/{name}": data for name, data in BUNDLE_FILES.items()} | {"__MACOSX/._iris": b""}
    dest = extract_archive(zip_archive(tmp_path / "b.zip", entries), tmp_path / "out")
    assert (dest / "berth.yaml").is_file()


def test_it_extracts_into_an_existing_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    dest = extract_archive(tar_archive(tmp_path / "b.tgz", BUNDLE_FILES), tmp_path / "out")
    assert (dest / "berth.yaml").is_file()


def test_it_rejects_a_corrupt_archive(tmp_path: Path) -> None:
    archive = tmp_path / "b.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip")
    dest = tmp_path / "out"
    with pytest.raises(BundleError, match=r"b\.zip is not a readable \.zip or \.tar\.gz"):
        extract_archive(archive, dest)
    assert_nothing_written(tmp_path, dest, archive)


def test_it_rejects_a_truncated_tar_gz(tmp_path: Path) -> None:
    big = {"berth.yaml": b"framework: sklearn\n", "model.joblib": bytes(range(256)) * 4000}
    whole = tar_archive(tmp_path / "whole.tar.gz", big).read_bytes()
    (tmp_path / "whole.tar.gz").unlink()
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(whole[: len(whole) // 2])
    dest = tmp_path / "out"
    with pytest.raises(BundleError, match="corrupt or truncated"):
        extract_archive(archive, dest)
    assert_nothing_written(tmp_path, dest, archive)


def zip_with(tmp_path: Path, name: str) -> Path:
    return zip_archive(tmp_path / "b.zip", BUNDLE_FILES | {name: b"x"})


def tar_with(tmp_path: Path, name: str) -> Path:
    return tar_archive(tmp_path / "b.tar.gz", BUNDLE_FILES | {name: b"x"})


@pytest.mark.parametrize("make", [zip_with, tar_with], ids=["zip", "tar.gz"])
@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("../x", "escapes the bundle with '..'"),
        ("models/../../x", "escapes the bundle with '..'"),
        ("/tmp/berth-absolute-x", "has an absolute path"),  # noqa: S108 - where a hostile archive aims
    ],
)
def test_it_rejects_archive_entries_that_escape_the_bundle(tmp_path, make, entry, message) -> None:
    archive = make(tmp_path, entry)
    dest = tmp_path / "out"
    with pytest.raises(BundleError, match=message):
        check_archive(archive)
    with pytest.raises(BundleError, match=message):
        extract_archive(archive, dest)
    assert_nothing_written(tmp_path, dest, archive)
    assert not Path("/tmp/berth-absolute-x").exists()  # noqa: S108 - checks the hostile entry went nowhere


@pytest.mark.parametrize(
    "member",
    [
        link("escape", "../../etc/passwd"),
        link("escape", "/etc/passwd"),
        link("models/escape", "../../x"),
        link("escape", "../x", tarfile.LNKTYPE),
    ],
    ids=["relative-symlink", "absolute-symlink", "nested-symlink", "hardlink"],
)
def test_it_rejects_links_that_point_outside_the_bundle(tmp_path: Path, member: tarfile.TarInfo) -> None:
    archive = tar_archive(tmp_path / "b.tar.gz", BUNDLE_FILES, [member])
    dest = tmp_path / "out"
    with pytest.raises(BundleError, match="outside the bundle"):
        extract_archive(archive, dest)
    assert_nothing_written(tmp_path, dest, archive)


def test_it_catches_a_link_that_escapes_through_another_link(tmp_path: Path) -> None:
    members = [link("here", "."), link("here/escape", "../x")]  # names look inside; the target is not
    archive = tar_archive(tmp_path / "b.tar.gz", BUNDLE_FILES, members)
    dest = tmp_path / "out"
    with pytest.raises(BundleError, match="archive rejected"):
        extract_archive(archive, dest)
    assert_nothing_written(tmp_path, dest, archive)


def test_it_rejects_symlinks_in_a_zip(tmp_path: Path) -> None:
    archive = zip_archive(tmp_path / "b.zip", BUNDLE_FILES, symlinks={"escape": "../../etc/passwd"})
    dest = tmp_path / "out"
    with pytest.raises(BundleError, match="outside the bundle"):
        extract_archive(archive, dest)
    assert_nothing_written(tmp_path, dest, archive)


def test_it_rejects_device_files(tmp_path: Path) -> None:
    device = tarfile.TarInfo("null")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    archive = tar_archive(tmp_path / "b.tar.gz", BUNDLE_FILES, [device])
    dest = tmp_path / "out"
    with pytest.raises(BundleError, match="'null' is a device or other special file"):
        extract_archive(archive, dest)
    assert_nothing_written(tmp_path, dest, archive)


def test_check_archive_lists_the_entries_of_a_good_archive(tmp_path: Path) -> None:
    assert sorted(check_archive(zip_archive(tmp_path / "b.zip", BUNDLE_FILES))) == ["berth.yaml", "model.joblib"]


def test_the_example_bundles_survive_a_round_trip_through_an_archive(tmp_path: Path, iris_bundle) -> None:
    source = iris_bundle("python")
    archive = Path(shutil.make_archive(str(tmp_path / "iris"), "gztar", source.parent, source.name))
    dest = extract_archive(archive, tmp_path / "unpacked")
    assert read_bundle(dest).entry_point == "model:IrisClassifier"


def test_it_refuses_an_archive_that_unpacks_past_the_size_limit(tmp_path: Path) -> None:
    archive = zip_archive(tmp_path / "b.zip", BUNDLE_FILES | {"weights.bin": bytes(3 * 2**20)})
    dest = tmp_path / "out"
    with pytest.raises(BundleError, match="unpacks to 3 MB, over the 2 MB limit"):
        extract_archive(archive, dest, max_unpacked_bytes=2 * 2**20)
    assert_nothing_written(tmp_path, dest, archive)
