"""The data layer: reading RRUFF spectra and archives, fetching the archive, tasks, splits and preprocessing."""

from ramancmp.data.bands import BANDS_CSV, load_bands
from ramancmp.data.fetch import (
                                 FetchError,
                                 archive_path,
                                 content_fingerprint,
                                 describe_archive,
                                 fetch,
                                 file_sha256,
                                 snapshot_of,
)
from ramancmp.data.preprocess import (
                                 DEFAULT_GRID,
                                 PreprocessConfig,
                                 make_grid,
                                 normalise,
                                 preprocess_many,
                                 preprocess_spectrum,
                                 resample,
                                 smooth,
)
from ramancmp.data.rruff import (
                                 ArchiveContents,
                                 ArchiveError,
                                 Skipped,
                                 Spectrum,
                                 SpectrumParseError,
                                 load_archive,
                                 parse_spectrum,
                                 read_spectrum,
)
from ramancmp.data.splits import Split, make_split, repeated_splits, species_halves, split_groups
from ramancmp.data.tasks import SpectraDataset, list_tasks, load_catalog, load_task, mineral_groups

__all__ = [
    "BANDS_CSV",
    "DEFAULT_GRID",
    "ArchiveContents",
    "ArchiveError",
    "FetchError",
    "PreprocessConfig",
    "Skipped",
    "SpectraDataset",
    "Spectrum",
    "SpectrumParseError",
    "Split",
    "archive_path",
    "content_fingerprint",
    "describe_archive",
    "fetch",
    "file_sha256",
    "list_tasks",
    "load_archive",
    "load_bands",
    "load_catalog",
    "load_task",
    "make_grid",
    "make_split",
    "mineral_groups",
    "normalise",
    "parse_spectrum",
    "preprocess_many",
    "preprocess_spectrum",
    "read_spectrum",
    "repeated_splits",
    "resample",
    "smooth",
    "snapshot_of",
    "species_halves",
    "split_groups",
]
