"""A build bundle: a directory holding `berth.yaml`, the model artifact and any code.

`read_bundle` turns the directory into a checked `BundleSpec`; every problem becomes a
`BundleError` whose message says what to change. Uploaded archives go through
`check_archive` (cheap, names only) and `extract_archive` (all-or-nothing).
"""

from __future__ import annotations

import difflib
import json
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

from serving.errors import BundleError

if TYPE_CHECKING:  # packaging and importlib.metadata are imported where used: a replica seldom needs them
    from packaging.requirements import Requirement

__all__ = [
    "FRAMEWORKS",
    "MANIFEST",
    "BundleSpec",
    "check_archive",
    "check_requirements",
    "extract_archive",
    "read_bundle",
    "write_single_file_bundle",
]

MANIFEST = "berth.yaml"
FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "onnx", "python")
KEYS = ("framework", "model_file", "entry_point", "requirements", "example_input", "example_input_file", "input_schema")
FIELD_KEYS = ("nullable", "model_dtype")  # what input_schema may declare per field
MODEL_DTYPES = ("float32", "float64", "int32", "int64")

Record = dict[str, Any]


@dataclass(frozen=True)
class BundleSpec:
    """What `berth.yaml` says, checked against the files in the bundle."""

    root: Path
    framework: str
    model_file: str | None = None
    entry_point: str | None = None
    requirements: tuple[str, ...] = ()
    example_input: tuple[Record, ...] | None = None
    input_schema: dict[str, dict[str, Any]] = field(default_factory=dict)  # declared per field

    @property
    def model_path(self) -> Path | None:
        return self.root / self.model_file if self.model_file else None

    @property
    def examples(self) -> list[Record] | None:
        return list(self.example_input) if self.example_input is not None else None


def read_bundle(bundle_dir: Path) -> BundleSpec:
    root = Path(bundle_dir)
    manifest = _load_manifest(root)
    framework = _framework(manifest)
    return BundleSpec(
        root=root,
        framework=framework,
        model_file=_model_file(root, manifest, framework),
        entry_point=_entry_point(root, manifest, framework),
        requirements=_requirements(manifest.get("requirements")),
        example_input=(examples := _example_input(root, manifest)),
        input_schema=_input_schema(manifest.get("input_schema"), examples),
    )


def _load_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"bundle directory {root} does not exist")
    if not path.is_file():
        raise BundleError(f"{MANIFEST} not found at the top of the bundle; add one (see docs/builds.md)")
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BundleError(f"{MANIFEST} is not valid YAML{_yaml_where(exc)}: {_yaml_problem(exc)}") from exc
    except UnicodeDecodeError as exc:
        raise BundleError(f"{MANIFEST} must be UTF-8 text") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{MANIFEST} must be a mapping of keys (framework:, model_file:, …)")
    _reject_unknown_keys(manifest)
    return manifest


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc)


def _reject_unknown_keys(manifest: dict[str, Any]) -> None:
    for key in manifest:
        if key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(KEYS)}"
            raise BundleError(f"unknown key '{key}' in {MANIFEST}; {hint}")


def _framework(manifest: dict[str, Any]) -> str:
    framework = manifest.get("framework")
    if framework is None:
        raise BundleError(f"{MANIFEST} must say which framework: one of {', '.join(FRAMEWORKS)}")
    if framework not in FRAMEWORKS:
        raise BundleError(f"unknown framework '{framework}'; use one of {', '.join(FRAMEWORKS)}")
    return str(framework)


def _model_file(root: Path, manifest: dict[str, Any], framework: str) -> str | None:
    model_file = manifest.get("model_file")
    if model_file is None:
        if framework != "python":
            raise BundleError(f"{MANIFEST} needs model_file: the {framework} artifact inside the bundle")
        return None
    _bundle_file(root, model_file, "model_file")
    return str(model_file)


def _entry_point(root: Path, manifest: dict[str, Any], framework: str) -> str | None:
    entry_point = manifest.get("entry_point")
    if framework != "python":
        if entry_point is not None:
            raise BundleError(f"entry_point is only used with framework: python (this bundle says {framework})")
        return None
    if not isinstance(entry_point, str) or entry_point.count(":") != 1:
        raise BundleError("framework: python needs entry_point: <module>:<Class>, e.g. model:IrisClassifier")
    module, class_name = entry_point.split(":")
    if not module.replace(".", "").replace("_", "").isalnum() or not class_name.isidentifier():
        raise BundleError(f"entry_point '{entry_point}' must look like <module>:<Class>, e.g. model:IrisClassifier")
    module_path = module.replace(".", "/")
    if not (root / f"{module_path}.py").is_file() and not (root / module_path / "__init__.py").is_file():
        raise BundleError(f"entry_point module '{module}' not found: add {module_path}.py to the bundle")
    return entry_point


def _bundle_file(root: Path, name: object, key: str) -> Path:
    if not isinstance(name, str) or not name:
        raise BundleError(f"{key} must be a file name inside the bundle")
    path = root / name
    if Path(name).is_absolute() or not path.resolve().is_relative_to(root.resolve()):
        raise BundleError(f"{key} '{name}' points outside the bundle; use a path relative to berth.yaml")
    if not path.is_file():
        raise BundleError(f"{key} '{name}' not found in the bundle")
    return path


def _requirements(requirements: object) -> tuple[str, ...]:
    if requirements is None:
        return ()
    if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
        raise BundleError('requirements must be a list of pip requirement strings, e.g. ["scikit-learn>=1.3"]')
    for text in requirements:
        _parse_requirement(text)
    return tuple(requirements)


def _parse_requirement(text: str) -> Requirement:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise BundleError(f"requirement '{text}' is not a valid pip requirement: {exc}") from exc


def _example_input(root: Path, manifest: dict[str, Any]) -> tuple[Record, ...] | None:
    inline, file_name = manifest.get("example_input"), manifest.get("example_input_file")
    if inline is not None and file_name is not None:
        raise BundleError("give example_input or example_input_file, not both")
    if file_name is not None:
        inline = _read_example_file(_bundle_file(root, file_name, "example_input_file"))
    if inline is None:
        return None
    return _records(inline)


def _read_example_file(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"example_input_file '{path.name}' is not valid JSON: {exc}") from exc


def _records(example: object) -> tuple[Record, ...]:
    if isinstance(example, dict):
        example = [example]
    if not isinstance(example, list) or not example:
        raise BundleError("example_input must be a non-empty list of records like [{feature: value, …}]")
    for number, record in enumerate(example, start=1):
        if not isinstance(record, dict) or not record:
            raise BundleError(f"example_input record {number} must be a mapping of field names to values")
    return tuple({str(key): value for key, value in record.items()} for record in example)


def _input_schema(declared: object, examples: tuple[Record, ...] | None) -> dict[str, dict[str, Any]]:
    """berth.yaml's `input_schema`: field name → {nullable: true|false, model_dtype: float32|…}."""
    if declared is None:
        return {}
    if not isinstance(declared, dict):
        raise BundleError("input_schema must map field names to what they declare, e.g. "
                          "{petal_width: {nullable: true}}")
    if examples is None:
        raise BundleError("input_schema refines the fields of example_input; add example_input too")
    fields = list(examples[0])
    return {str(name): _field_declaration(str(name), properties, fields) for name, properties in declared.items()}


def _field_declaration(name: str, properties: object, fields: list[str]) -> dict[str, Any]:
    if name not in fields:
        raise BundleError(f"input_schema declares field '{name}', which example_input does not have; "
                          f"fields: {', '.join(fields)}")
    if not isinstance(properties, dict) or not properties or not set(properties) <= set(FIELD_KEYS):
        raise BundleError(f"input_schema field '{name}' must declare {' and/or '.join(FIELD_KEYS)}, "
                          "e.g. {nullable: true}")
    if "nullable" in properties and not isinstance(properties["nullable"], bool):
        raise BundleError(f"input_schema field '{name}': nullable must be true or false")
    if "model_dtype" in properties and properties["model_dtype"] not in MODEL_DTYPES:
        raise BundleError(f"input_schema field '{name}': model_dtype must be one of {', '.join(MODEL_DTYPES)}")
    return dict(properties)


def check_requirements(requirements: tuple[str, ...] | list[str]) -> None:
    """Fail unless every requirement is met by the serving environment (the console's own)."""
    for text in requirements:
        requirement = _parse_requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        found = _installed_version(requirement.name)
        if found is None or not requirement.specifier.contains(found, prereleases=True):
            raise BundleError(
                f"requirement {text} is not installed in the serving environment "
                f"(found {found or 'nothing'})"
            )


def _installed_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
    import_name = name.lower().replace("-", "_").replace(".", "_")
    for distribution in metadata.packages_distributions().get(import_name, []):
        return metadata.version(distribution)  # e.g. xgboost provided by xgboost-cpu
    return None


def write_single_file_bundle(
    model_file: Path, framework: str, dest_dir: Path, example_input: list[Record] | None = None
) -> BundleSpec:
    """Turn one uploaded model file plus the framework chosen in the form into a bundle."""
    if framework not in FRAMEWORKS:
        raise BundleError(f"unknown framework '{framework}'; use one of {', '.join(FRAMEWORKS)}")
    if framework == "python":
        raise BundleError("a python build needs a bundle (archive) with berth.yaml and an entry_point")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = Path(model_file).name
    if name == MANIFEST:
        raise BundleError(f"the model file can't be called {MANIFEST}")
    shutil.copyfile(model_file, dest_dir / name)
    manifest: dict[str, Any] = {"framework": framework, "model_file": name}
    if example_input is not None:
        manifest["example_input"] = list(_records(example_input))
    (dest_dir / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return read_bundle(dest_dir)


# --- archives ------------------------------------------------------------------------

IGNORED_TOP_LEVEL = ("__MACOSX",)


@dataclass(frozen=True)
class _Member:
    name: str
    kind: str  # file | dir | symlink | hardlink | special
    link: str = ""
    size: int = 0


def check_archive(archive: Path, max_unpacked_bytes: int | None = None) -> list[str]:
    """Look at member headers only (names, types, sizes); raise BundleError for anything unsafe."""
    members = _list_members(Path(archive))
    for member in members:
        _check_member(member)
    unpacked = sum(member.size for member in members)
    if max_unpacked_bytes is not None and unpacked > max_unpacked_bytes:
        raise BundleError(
            f"the archive unpacks to {unpacked / 2**20:.0f} MB, over the {max_unpacked_bytes / 2**20:.0f} MB limit"
        )
    return [member.name for member in members]


def extract_archive(archive: Path, dest_dir: Path, max_unpacked_bytes: int | None = None) -> Path:
    """Unpack a .zip / .tar.gz / .tgz into `dest_dir` (absent or empty) and return it.

    All or nothing: on any problem `dest_dir` is left as it was. A single top-level
    directory holding berth.yaml becomes the bundle root.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    check_archive(archive, max_unpacked_bytes)
    if dest_dir.exists() and any(dest_dir.iterdir()):
        raise ValueError(f"{dest_dir} must be empty to extract a bundle into it")
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_dir.parent))
    try:
        _unpack(archive, staging)
        if dest_dir.exists():
            dest_dir.rmdir()
        _bundle_root(staging).rename(dest_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest_dir


def _list_members(archive: Path) -> list[_Member]:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                return [_zip_member(zipped, info) for info in zipped.infolist()]
        with tarfile.open(archive, "r:*") as tarred:
            return [_tar_member(info) for info in tarred.getmembers()]
    except ARCHIVE_ERRORS as exc:
        raise _corrupt(archive, exc) from exc


def _zip_member(zipped: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Member:
    file_type = _zip_file_type(info)
    if file_type == stat.S_IFLNK:
        return _Member(info.filename, "symlink", zipped.read(info).decode("utf-8", "replace"))
    if info.is_dir() or file_type == stat.S_IFDIR:
        return _Member(info.filename, "dir")
    if file_type in (0, stat.S_IFREG):
        return _Member(info.filename, "file", size=info.file_size)
    return _Member(info.filename, "special")


def _zip_file_type(info: zipfile.ZipInfo) -> int:
    """Unix file type bits, when the zip was made on Unix and recorded them (often it doesn't)."""
    return stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0


def _tar_member(info: tarfile.TarInfo) -> _Member:
    if info.issym():
        return _Member(info.name, "symlink", info.linkname)
    if info.islnk():
        return _Member(info.name, "hardlink", info.linkname)
    if info.isreg():
        return _Member(info.name, "file", size=info.size)
    return _Member(info.name, "dir" if info.isdir() else "special")


def _check_member(member: _Member) -> None:
    name = member.name
    if _is_absolute(name):
        raise BundleError(f"archive entry '{name}' has an absolute path; paths must be relative to the bundle")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise BundleError(f"archive entry '{name}' escapes the bundle with '..'")
    if member.kind == "special":
        raise BundleError(f"archive entry '{name}' is a device or other special file; only files and folders")
    if member.kind in ("symlink", "hardlink") and not _link_stays_inside(member):
        raise BundleError(f"archive entry '{name}' links to '{member.link}', outside the bundle")


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":")


def _link_stays_inside(member: _Member) -> bool:
    if not member.link or _is_absolute(member.link):
        return False
    base = "" if member.kind == "hardlink" else posixpath.dirname(member.name)
    target = posixpath.normpath(posixpath.join(base, member.link))
    return target != ".." and not target.startswith("../")


def _unpack(archive: Path, staging: Path) -> None:
    try:
        if zipfile.is_zipfile(archive):
            _unpack_zip(archive, staging)
        else:
            with tarfile.open(archive, "r:*") as tarred:
                tarred.extractall(staging, filter="data")  # second line of defence
    except tarfile.FilterError as exc:
        raise BundleError(f"archive rejected: {exc}") from exc
    except ARCHIVE_ERRORS as exc:
        raise _corrupt(archive, exc) from exc


def _unpack_zip(archive: Path, staging: Path) -> None:
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            if _zip_file_type(info) == stat.S_IFLNK:
                raise BundleError(f"zip entry '{info.filename}' is a symlink; use .tar.gz for bundles with links")
        zipped.extractall(staging)  # noqa: S202 - zipfile drops absolute and ".." parts; symlinks refused above


def _bundle_root(staging: Path) -> Path:
    if (staging / MANIFEST).is_file():
        return staging
    entries = [entry for entry in staging.iterdir() if entry.name not in IGNORED_TOP_LEVEL]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / MANIFEST).is_file():
        return entries[0]
    return staging


def _corrupt(archive: Path, exc: BaseException) -> BundleError:
    return BundleError(f"{archive.name} is not a readable .zip or .tar.gz (corrupt or truncated?): {exc}")


ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError, UnicodeDecodeError)
