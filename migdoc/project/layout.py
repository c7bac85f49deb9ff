"""Where a project's revision files live and how they are named: the record the
configuration is turned into, and every stage after reads. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from migdoc.project.config_files import MigdocSettings

DEFAULT_FILE_TEMPLATE = "%(rev)s_%(slug)s"


@dataclass(frozen=True)
class ProjectLayout:
    """Where a project's revision files live and how they are named."""

    root: Path
    config_file: Path | None
    script_location: Path | None
    version_locations: tuple[Path, ...]
    is_recursive: bool = False
    file_template: str = DEFAULT_FILE_TEMPLATE
    has_explicit_file_template: bool = False
    prepend_sys_path: tuple[Path, ...] = ()
    settings: MigdocSettings = field(default_factory=MigdocSettings)
    ini_section: str = "alembic"
    notes: tuple[str, ...] = ()
    """Info lines about how the layout was found (printed on stderr, never findings)."""
    unread_subfolder_files: int = 0
    """Version files in subfolders Alembic would not read (no ``recursive_version_locations``)."""

    @property
    def archive_root(self) -> Path:
        base = self.script_location or self.version_locations[0].parent
        return base / "archive"
