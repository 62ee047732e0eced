"""The data layer: reading RRUFF spectra and archives, fetching the archive, tasks, splits and preprocessing."""

from ramancmp.data.fetch import FetchError, archive_path, fetch, file_sha256
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
