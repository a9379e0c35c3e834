"""Run ``launch/*.launch.py`` without ROS 2's launch packages, and check what they would start.

This machine has no ``launch``/``launch_ros`` (no wheels exist), so :func:`stand_ins` puts small recording
stand-ins for them (and for ``ament_index_python.packages``) into ``sys.modules``. :func:`run_launch_file`
then loads a launch file, calls ``generate_launch_description()`` and walks the result the way ``ros2 launch``
does: launch arguments (defaults, choices, required ones), conditions, ``OpaqueFunction`` calls, includes
(ours are followed into ``launch/``, foreign ones recorded) and ``Node`` actions, whose parameters are
evaluated like launch_ros does (substitutions → YAML-typed values, ``ParameterValue`` coerced).

:func:`problems` checks the result against the repository: executables exist (setup.py and the colcon
install), params files exist and are installed by setup.py, every launch argument used is declared, every
params-file section names a node that gets the file, and every parameter is declared by its node — by
constructing the real node classes with the same ``--ros-args`` and stopping right after the node's own
``reject_unknown_parameters`` check (no model is loaded, nothing spins).
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import fnmatch
import importlib
import importlib.util
import itertools
import os
import re
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
LAUNCH_DIR = ROOT / "launch"
SETUP_PY = ROOT / "src" / "visuomotor_ros" / "setup.py"
INSTALL_LIB = ROOT / "install" / "visuomotor_ros" / "lib" / "visuomotor_ros"
PACKAGE = "visuomotor_ros"


def _share_root() -> str:
    """A stand-in install share: ``visuomotor_ros/{config,launch,models}`` link to the repository's folders
    (what setup.py installs there); other packages' share directories do not exist."""
    root = Path(tempfile.mkdtemp(prefix="launch-share-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for name in ("config", "launch", "models"):
        (root / PACKAGE).mkdir(exist_ok=True)
        (root / PACKAGE / name).symlink_to(ROOT / name, target_is_directory=True)
    return str(root)


#: What the stand-in get_package_share_directory / FindPackageShare return: f"{SHARE_ROOT}/{package}".
SHARE_ROOT = _share_root()
OWN_SHARE = f"{SHARE_ROOT}/{PACKAGE}"


# ---------------------------------------------------------------------------------------------- stand-ins
class LaunchContext:
    """The part of launch.LaunchContext the launch files use."""

    def __init__(self, configurations: dict[str, str]) -> None:
        self.launch_configurations = dict(configurations)

    def perform_substitution(self, substitution: Substitution) -> str:
        return substitution.perform(self)


class Substitution:
    def perform(self, context: LaunchContext) -> str:
        raise NotImplementedError


def perform(value: Any, context: LaunchContext) -> str:
    """launch's SomeSubstitutionsType → str: a string, a substitution or a list of both (concatenated)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Substitution):
        return value.perform(context)
    if isinstance(value, list | tuple):
        return "".join(perform(v, context) for v in value)
    raise TypeError(f"not a substitution: {value!r}")


def truth(text: str) -> bool:
    """launch's evaluate_condition_expression: true/1 or false/0, anything else is an error."""
    value = text.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ValueError(f"invalid condition value {text!r}: expected true/false/1/0")


@dataclass
class Recorder:
    """Which file is being loaded or walked, and the launch arguments each file reads."""

    current: Path | None = None
    used: dict[Path, set[str]] = field(default_factory=dict)


RECORDER = Recorder()


class LaunchConfiguration(Substitution):
    def __init__(self, variable_name: str, *, default: Any = None) -> None:
        self.name = variable_name
        self.default = default
        if RECORDER.current is not None:
            RECORDER.used.setdefault(RECORDER.current, set()).add(variable_name)

    def perform(self, context: LaunchContext) -> str:
        if self.name in context.launch_configurations:
            return context.launch_configurations[self.name]
        if self.default is not None:
            return perform(self.default, context)
        raise KeyError(f"launch configuration {self.name!r} does not exist")


class NotSubstitution(Substitution):
    def __init__(self, value: Any) -> None:
        self.value = value

    def perform(self, context: LaunchContext) -> str:
        return "false" if truth(perform(self.value, context)) else "true"


class PathJoinSubstitution(Substitution):
    def __init__(self, substitutions: list[Any]) -> None:
        self.parts = substitutions

    def perform(self, context: LaunchContext) -> str:
        return os.path.join(*(perform(p, context) for p in self.parts))


class FindPackageShare(Substitution):
    def __init__(self, package: str) -> None:
        self.package = package

    def perform(self, context: LaunchContext) -> str:
        return f"{SHARE_ROOT}/{self.package}"


def get_package_share_directory(package_name: str) -> str:
    return f"{SHARE_ROOT}/{package_name}"


class Condition:
    def __init__(self, predicate_expression: Any) -> None:
        self.expression = predicate_expression

    def evaluate(self, context: LaunchContext) -> bool:
        raise NotImplementedError


class IfCondition(Condition):
    def evaluate(self, context: LaunchContext) -> bool:
        return truth(perform(self.expression, context))


class UnlessCondition(Condition):
    def evaluate(self, context: LaunchContext) -> bool:
        return not truth(perform(self.expression, context))


class Action:
    def __init__(self, *, condition: Condition | None = None) -> None:
        self.condition = condition


class DeclareLaunchArgument(Action):
    def __init__(self, name: str, *, default_value: Any = None, description: str = "",
                 choices: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name, self.default_value = name, default_value
        self.description, self.choices = description, choices


class OpaqueFunction(Action):
    def __init__(self, *, function: Any, args: list | None = None, kwargs: dict | None = None,
                 **action_kwargs: Any) -> None:
        super().__init__(**action_kwargs)
        self.function, self.args, self.kwargs = function, args or [], kwargs or {}


class PythonLaunchDescriptionSource:
    def __init__(self, launch_file_path: Any) -> None:
        self.location = launch_file_path


class IncludeLaunchDescription(Action):
    def __init__(self, launch_description_source: PythonLaunchDescriptionSource, *,
                 launch_arguments: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = launch_description_source
        self.launch_arguments = list(launch_arguments or [])


class LaunchDescription:
    def __init__(self, initial_entities: list | None = None) -> None:
        self.entities = list(initial_entities or [])

    def add_action(self, action: Any) -> None:
        self.entities.append(action)


class Node(Action):
    def __init__(self, *, executable: Any, package: Any = None, name: Any = None, namespace: Any = None,
                 parameters: list | None = None, remappings: list | None = None,
                 ros_arguments: list | None = None, arguments: list | None = None,
                 condition: Condition | None = None, respawn: Any = False, respawn_delay: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(condition=condition)
        # launch's ExecuteProcess: respawn a bool (or a substitution), respawn_delay seconds or None.
        if not isinstance(respawn, bool | Substitution):
            raise TypeError(f"Node respawn must be a bool or a substitution, got {respawn!r}")
        if respawn_delay is not None and (isinstance(respawn_delay, bool)
                                          or not isinstance(respawn_delay, int | float)):
            raise TypeError(f"Node respawn_delay must be seconds (float) or None, got {respawn_delay!r}")
        self.respawn, self.respawn_delay = respawn, respawn_delay
        self.executable, self.package, self.name, self.namespace = executable, package, name, namespace
        self.parameters = list(parameters or [])
        self.remappings = list(remappings or [])
        self.ros_arguments = list(ros_arguments or [])
        self.arguments = list(arguments or [])
        self.extra = kwargs


class ParameterValue:
    def __init__(self, value: Any, *, value_type: type | None = None) -> None:
        self.value, self.value_type = value, value_type


def _module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__path__ = []  # a package, so `import launch.actions` style imports resolve
    return module


@contextlib.contextmanager
def stand_ins() -> Iterator[None]:
    """``launch``, ``launch_ros`` and ``ament_index_python`` stand-ins in sys.modules, restored afterwards."""
    modules = {
        "launch": _module("launch", LaunchDescription=LaunchDescription, LaunchContext=LaunchContext),
        "launch.actions": _module("launch.actions", DeclareLaunchArgument=DeclareLaunchArgument,
                                  IncludeLaunchDescription=IncludeLaunchDescription,
                                  OpaqueFunction=OpaqueFunction),
        "launch.conditions": _module("launch.conditions", IfCondition=IfCondition,
                                     UnlessCondition=UnlessCondition),
        "launch.launch_description_sources": _module(
            "launch.launch_description_sources", PythonLaunchDescriptionSource=PythonLaunchDescriptionSource),
        "launch.substitutions": _module("launch.substitutions", LaunchConfiguration=LaunchConfiguration,
                                        NotSubstitution=NotSubstitution,
                                        PathJoinSubstitution=PathJoinSubstitution),
        "launch_ros": _module("launch_ros"),
        "launch_ros.actions": _module("launch_ros.actions", Node=Node),
        "launch_ros.parameter_descriptions": _module("launch_ros.parameter_descriptions",
                                                     ParameterValue=ParameterValue),
        "launch_ros.substitutions": _module("launch_ros.substitutions", FindPackageShare=FindPackageShare),
        "ament_index_python": _module("ament_index_python"),
        "ament_index_python.packages": _module("ament_index_python.packages",
                                               get_package_share_directory=get_package_share_directory),
    }
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


# ------------------------------------------------------------------------------------------------ walking
@dataclass
class LaunchedNode:
    """A Node action as launch_ros would run it."""

    launch_file: Path
    package: str
    executable: str
    name: str | None
    params: list[tuple[str, Any]]  # ("file", path) or ("dict", evaluated mapping), in order
    ros_arguments: list[str]
    arguments: list[str]
    remappings: list[tuple[str, str]]
    respawn: bool = False
    respawn_delay: float | None = None

    def files(self) -> list[str]:
        return [value for kind, value in self.params if kind == "file"]

    def inline(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for kind, value in self.params:
            if kind == "dict":
                merged.update(value)
        return merged


@dataclass
class Include:
    """A foreign launch file included (path and evaluated launch arguments)."""

    launch_file: Path
    path: str
    arguments: dict[str, str]


@dataclass
class LaunchRun:
    nodes: list[LaunchedNode] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    declared: dict[Path, set[str]] = field(default_factory=dict)
    used: dict[Path, set[str]] = field(default_factory=dict)

    def node(self, executable: str) -> LaunchedNode:
        found = [n for n in self.nodes if n.executable == executable]
        assert len(found) == 1, f"expected one {executable!r} node, got {len(found)}"
        return found[0]

    def include(self, path_suffix: str) -> Include:
        found = [i for i in self.includes if i.path.endswith(path_suffix)]
        assert len(found) == 1, f"expected one {path_suffix!r}, got {[i.path for i in self.includes]}"
        return found[0]


_counter = itertools.count()


def _load(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"launch_file_{next(_counter)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _value(value: Any, context: LaunchContext) -> Any:
    """A parameter value as launch_ros evaluates it."""
    if isinstance(value, ParameterValue):
        text = perform(value.value, context)
        if value.value_type is bool:
            return truth(text)
        if value.value_type in (int, float):
            return value.value_type(yaml.safe_load(text))
        if value.value_type is str:
            return text
        return yaml.safe_load(text)
    if isinstance(value, Substitution):
        return yaml.safe_load(perform(value, context))
    if isinstance(value, list):
        return [_value(v, context) for v in value]
    return value


def _evaluate_node(action: Node, context: LaunchContext, launch_file: Path) -> LaunchedNode:
    params: list[tuple[str, Any]] = []
    for entry in action.parameters:
        if isinstance(entry, dict):
            params.append(("dict", {perform(k, context): _value(v, context) for k, v in entry.items()}))
        else:
            params.append(("file", perform(entry, context)))
    return LaunchedNode(
        launch_file=launch_file,
        package=perform(action.package, context),
        executable=perform(action.executable, context),
        name=perform(action.name, context) if action.name is not None else None,
        params=params,
        ros_arguments=[perform(a, context) for a in action.ros_arguments],
        arguments=[perform(a, context) for a in action.arguments],
        remappings=[(perform(a, context), perform(b, context)) for a, b in action.remappings],
        respawn=(action.respawn if isinstance(action.respawn, bool)
                 else truth(perform(action.respawn, context))),
        respawn_delay=None if action.respawn_delay is None else float(action.respawn_delay),
    )


def _walk(entities: list, context: LaunchContext, launch_file: Path, run: LaunchRun) -> None:
    for entity in entities:
        if isinstance(entity, LaunchDescription):
            _walk(entity.entities, context, launch_file, run)
            continue
        condition = getattr(entity, "condition", None)
        if condition is not None and not condition.evaluate(context):
            continue
        if isinstance(entity, DeclareLaunchArgument):
            run.declared.setdefault(launch_file, set()).add(entity.name)
            if entity.name not in context.launch_configurations:
                if entity.default_value is None:
                    raise ValueError(
                        f"{launch_file.name}: required launch argument {entity.name!r} not given")
                context.launch_configurations[entity.name] = perform(entity.default_value, context)
            value = context.launch_configurations[entity.name]
            if entity.choices is not None and value not in entity.choices:
                raise ValueError(
                    f"{launch_file.name}: {entity.name}:={value!r} is not one of {entity.choices}")
        elif isinstance(entity, OpaqueFunction):
            previous, RECORDER.current = RECORDER.current, launch_file
            try:
                produced = entity.function(context, *entity.args, **entity.kwargs)
            finally:
                RECORDER.current = previous
            _walk(list(produced or []), context, launch_file, run)
        elif isinstance(entity, IncludeLaunchDescription):
            path = perform(entity.source.location, context)
            arguments = {perform(k, context): perform(v, context) for k, v in entity.launch_arguments}
            if path.startswith(OWN_SHARE + "/launch/"):
                # ros2 launch sets include arguments in the including context (no scope), then runs the file.
                context.launch_configurations.update(arguments)
                _run_file(LAUNCH_DIR / Path(path).name, context, run)
            else:
                run.includes.append(Include(launch_file, path, arguments))
        elif isinstance(entity, Node):
            run.nodes.append(_evaluate_node(entity, context, launch_file))
        else:
            raise TypeError(f"{launch_file.name}: the emulator does not know {type(entity).__name__}")


def _run_file(path: Path, context: LaunchContext, run: LaunchRun) -> None:
    previous, RECORDER.current = RECORDER.current, path
    try:
        description = _load(path).generate_launch_description()
    finally:
        RECORDER.current = previous
    _walk([description], context, path, run)


def run_launch_file(path: Path, arguments: dict[str, str] | None = None) -> LaunchRun:
    """What ``ros2 launch <path> k:=v ...`` would start (call inside :func:`stand_ins`)."""
    RECORDER.used.clear()
    run = LaunchRun()
    _run_file(path, LaunchContext(arguments or {}), run)
    run.used = {k: set(v) for k, v in RECORDER.used.items()}
    return run


# ----------------------------------------------------------------------------------------------- checking
def setup_nodes() -> dict[str, str]:
    """setup.py's NODES: executable → "module:function"."""
    for node in ast.walk(ast.parse(SETUP_PY.read_text())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "NODES" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"no NODES in {SETUP_PY}")


def installed_patterns() -> list[tuple[str, str]]:
    """setup.py data_files as (share-relative directory, repo-relative glob)."""
    text = SETUP_PY.read_text()
    out = []
    for dest, sources in re.findall(r'\(f"share/\{PACKAGE\}/([^"]*)",\s*(.+?)\),?\n', text):
        out += [(dest, g) for g in re.findall(r'glob\("\.\./\.\./([^"]+)"\)', sources)]
    return out


def is_installed(rel: str, patterns: list[tuple[str, str]]) -> bool:
    """Whether setup.py installs the repository file ``rel`` as share/<package>/``rel``."""
    return any(os.path.dirname(rel) == dest and fnmatch.fnmatch(rel, pattern) for dest, pattern in patterns)


def repo_file(path: str) -> tuple[Path, str | None]:
    """A params file path as launched → (the repository file, its share-relative path or None)."""
    if path.startswith(OWN_SHARE + "/"):
        rel = path[len(OWN_SHARE) + 1:]
        return ROOT / rel, rel
    return Path(path), None


def host_classes(executable: str) -> list[type]:
    """The node classes an executable of ours runs (the composed perception runs several)."""
    module = importlib.import_module(setup_nodes()[executable].split(":")[0])
    if hasattr(module, "PERCEPTION_NODES"):
        return list(module.PERCEPTION_NODES)
    from rclpy.node import Node as RclpyNode

    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, RclpyNode) and c.__module__ == module.__name__]
    assert len(classes) == 1, f"{module.__name__}: expected one node class, got {classes}"
    return classes


class _Declared(Exception):
    """Raised right after a node's reject_unknown_parameters passed: stops the constructor there."""


def node_name(cls: type) -> str:
    """The name a node class gives itself, read from its constructor's super().__init__("name", ...)."""
    import inspect

    match = re.search(r'super\(\)\.__init__\(\s*"([^"]+)"', inspect.getsource(cls.__init__))
    assert match, f"{cls.__name__}: no super().__init__(\"name\") in its constructor"
    return match.group(1)


def parameter_problems(node: LaunchedNode, tmp_dir: Path) -> list[str]:
    """Construct each node class of ``node`` with its --ros-args; the node's own check names unknown keys."""
    import rclpy

    from visuomotor.errors import ConfigError

    cli = ["--ros-args"]
    for kind, value in node.params:
        if kind == "file":
            cli += ["--params-file", str(repo_file(value)[0])]
        else:  # launch_ros writes a dict into a temporary params file under "/**" (no namespace given)
            path = tmp_dir / f"inline_{next(_counter)}.yaml"
            path.write_text(yaml.safe_dump({"/**": {"ros__parameters": value}}))
            cli += ["--params-file", str(path)]
    cli += node.ros_arguments
    if node.name:
        cli += ["-r", f"__node:={node.name}"]
    out = []
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    try:
        for cls in host_classes(node.executable):
            module = sys.modules[cls.__module__]
            real = module.reject_unknown_parameters

            def checked(n: Any, real: Any = real) -> None:
                try:
                    real(n)
                finally:
                    n.destroy_node()
                raise _Declared

            module.reject_unknown_parameters = checked
            try:
                cls(context=context, cli_args=cli, use_global_arguments=False)
                out.append(f"{node.launch_file.name}: {cls.__name__} did not call reject_unknown_parameters")
            except _Declared:
                pass
            except ConfigError as err:
                out.append(f"{node.launch_file.name}: {node.executable}: {err}")
            except Exception as err:  # e.g. a parameter of the wrong type: the node would not start either
                out.append(f"{node.launch_file.name}: {node.executable}: {type(err).__name__}: {err}")
            finally:
                module.reject_unknown_parameters = real
    finally:
        rclpy.shutdown(context=context)
    return out


def problems(run: LaunchRun) -> list[str]:
    """Everything in ``run`` that would fail (or silently do nothing) on a machine with ROS 2."""
    out = []
    for launch_file, used in run.used.items():
        undeclared = sorted(used - run.declared.get(launch_file, set()))
        if undeclared:
            out.append(
                f"{launch_file.name}: launch argument(s) {', '.join(undeclared)} used but not declared")
    nodes = setup_nodes()
    patterns = installed_patterns()
    sections: dict[str, set[str]] = {}  # params file → node names hosted by the processes that read it
    with tempfile.TemporaryDirectory() as tmp:
        for node in (n for n in run.nodes if n.package == PACKAGE):
            where = f"{node.launch_file.name}: {node.executable}"
            if node.executable not in nodes:
                out.append(f"{where}: no such executable in {SETUP_PY.relative_to(ROOT)} NODES")
                continue
            if not (INSTALL_LIB / node.executable).exists():
                out.append(f"{where}: {INSTALL_LIB / node.executable} is not built (run scripts/setup.sh)")
            names = ({node.name} if node.name else {node_name(c) for c in host_classes(node.executable)})
            bad_file = False
            for path in node.files():
                local, rel = repo_file(path)
                if not local.is_file():
                    out.append(f"{where}: params file {path} → {local} does not exist")
                    bad_file = True
                    continue
                if rel is not None and not is_installed(rel, patterns):
                    out.append(f"{where}: {rel} exists but setup.py's data_files do not install it")
                sections.setdefault(str(local), set()).update(names)
            if not bad_file:
                out += parameter_problems(node, Path(tmp))
    for path, hosted in sections.items():
        keys = set(yaml.safe_load(Path(path).read_text()) or {})
        stray = sorted(k for k in keys if k != "/**" and k.lstrip("/") not in hosted)
        if stray:
            out.append(f"{Path(path).name}: section(s) {', '.join(stray)} match no node that reads the file "
                       f"(nodes: {', '.join(sorted(hosted))})")
    return out
