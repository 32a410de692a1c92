"""Where jaxnas looks for data files.

Order: an explicit argument, then the environment variable ``JAXNAS_DATA_DIR``, then
``../shared/data`` relative to the working directory and to the repository root, then the user's
folder ``~/.jaxnas/data`` (where ``jaxnas data convert`` writes when neither ``--data-dir`` nor
``JAXNAS_DATA_DIR`` is given).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "JAXNAS_DATA_DIR"
_REPO_ROOT = Path(__file__).resolve().parent.parent


def user_data_dir() -> Path:
    """``~/.jaxnas/data``: the data folder of a user without ``--data-dir``/``JAXNAS_DATA_DIR``."""
    return Path.home() / ".jaxnas" / "data"


def write_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where converted files go: ``data_dir``, else ``$JAXNAS_DATA_DIR``, else
    :func:`user_data_dir` (never the read-only shared folder)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return user_data_dir()


def candidate_data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The directories searched for data, in order of preference."""
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    out = []
    if os.environ.get(ENV_VAR):
        out.append(Path(os.environ[ENV_VAR]).expanduser())
    out += [Path.cwd() / ".." / "shared" / "data", _REPO_ROOT / ".." / "shared" / "data",
            user_data_dir()]
    return list(dict.fromkeys(p.resolve() if p.exists() else p for p in out))


def find_file(relative: str, data_dir: str | os.PathLike | None = None, how_to_get: str = "") -> Path:
    """Finds ``relative`` (e.g. ``'nb201/accuracies.csv'``) under the data directories.

    A file directly inside ``data_dir`` is accepted too (``data_dir/accuracies.csv``).

    Raises:
        FileNotFoundError: naming every place looked in and how to obtain the file.
    """
    tried = []
    for d in candidate_data_dirs(data_dir):
        for p in (d / relative, d / Path(relative).name):
            tried.append(str(p.resolve()) if p.parent.exists() else str(p))
            if p.is_file():
                return p.resolve()
    msg = f"could not find {relative!r}; looked in: {', '.join(dict.fromkeys(tried))}."
    msg += f" Pass --data-dir DIR or set {ENV_VAR}=DIR (DIR holding {relative})."
    if how_to_get:
        msg += " " + how_to_get
    raise FileNotFoundError(msg)
