"""`aicsolve data verify`: every part of the data folder checked, not only the tables a manifest lists."""

from __future__ import annotations

from costmodel.paths import DataNotFoundError, data_dir
from costmodel.tables import CorruptDataError, verify_folder


def verify_data() -> dict[str, int]:
    """Check perf/ (every <system>/<backend>/<version> folder has a manifest and its files match it),
    systems/*.yaml (each reads as a System) and models/*.json (each reads as a ModelArch).

    Returns the counts checked {"tables", "systems", "models"}; raises DataNotFoundError or
    CorruptDataError naming the first damaged file. Table values (NaN, negative latencies) are checked
    when a table is parsed (costmodel.tables.load_table); a file that matches its manifest parsed clean.
    """
    from costmodel.arch import list_models, load_model, registry_problems
    from costmodel.errors import UnsupportedModelError
    from costmodel.system import list_systems, load_system

    root = data_dir()
    perf = root / "perf"
    if not perf.is_dir():
        raise DataNotFoundError(
            f"data folder {perf} is missing: no measured op tables; reinstall aicsolve or rerun the importer"
        )
    folders = sorted(p for p in perf.glob("*/*/*") if p.is_dir())
    if not folders:
        raise DataNotFoundError(
            f"data folder {perf} holds no <system>/<backend>/<version> folders; reinstall "
            "aicsolve or rerun the importer"
        )
    tables = 0
    for folder in folders:
        if not (folder / "manifest.json").is_file():
            raise DataNotFoundError(
                f"data file {folder / 'manifest.json'} is missing, so the tables in {folder} "
                "cannot be checked; reinstall aicsolve or rerun the importer"
            )
        tables += len(verify_folder(folder))
    systems = list_systems()
    if not systems:
        raise DataNotFoundError(f"data folder {root / 'systems'} holds no system files; reinstall aicsolve")
    for name in systems:
        load_system(name)
    problems = registry_problems()
    if problems:
        raise CorruptDataError(f"data file {problems[0]}")
    models = list_models()
    for hf_id, _ in models:
        try:
            load_model(hf_id, paths=False)
        except UnsupportedModelError as e:
            raise CorruptDataError(f"data file {e}") from None
    return {"tables": tables, "systems": len(systems), "models": len(models)}
