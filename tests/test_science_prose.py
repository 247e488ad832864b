"""What the extraction notebook tells students is true of this file, and gives no answer away.

The written answer's rubric and the notebook's discussion rest on the file's own header
(a ``_crj`` product whose dispersion solution was not applied, a nominal WCS at the
grating's central wavelength, small heliocentric and wavecal corrections) and on the
measured lines (every line bluer than the published redshift predicts, by about the same
number of Angstrom). The student's prose holds no value a question asks for.
"""

from __future__ import annotations

import numpy as np
import nbformat
import pytest

from .conftest import ROOT, needs_data

pytestmark = needs_data

NOTEBOOK = "longslit-extraction/extraction.ipynb"
PUBLISHED_Z = 0.0330
C_KMS = 299792.458


@pytest.fixture(scope="module")
def headers(data_file):
    from astropy.io import fits

    with fits.open(data_file) as hdul:
        return hdul[0].header.copy(), hdul["SCI"].header.copy()


@pytest.fixture(scope="module")
def extraction(data_file):
    from reference_solution import extract

    return extract(data_file)


def _markdown(folder: str) -> str:
    nb = nbformat.read(ROOT / folder / NOTEBOOK, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_the_header_is_as_the_notebook_and_rubric_say(headers):
    primary, sci = headers
    assert primary["FILENAME"].endswith("_crj.fits") and primary["CRCORR"] == "COMPLETE"
    assert primary["DISPCORR"] == "PERFORM" and primary["X2DCORR"] == "PERFORM"  # no dispersion solution applied
    assert float(primary["CENWAVE"]) == float(sci["CRVAL1"])  # the nominal WCS: the central wavelength
    assert primary["OPT_ELEM"] == "G430L" and primary["APERTURE"] == "52X0.2" and primary["PROPOSID"] == 8700
    assert primary["BINAXIS1"] == primary["BINAXIS2"] == 2 and primary["CRSPLIT"] == 2 and primary["TEXPTIME"] == 720
    assert abs(sci["V_HELIO"]) / C_KMS < 1.5e-4  # "about 28 km/s, 1e-4 in z"
    assert 25 < abs(sci["V_HELIO"]) < 31
    assert abs(sci["SHIFTA1"]) < 1  # "below one pixel"
    assert abs(sci["CD1_1"] - 5.49) < 0.01  # "5.49 Angstrom per binned pixel"
    assert abs(primary["PLATESC"] - 0.1) < 0.005  # "about 0.1 arcsec per row"
    # [O III] unresolved: two pixels are some 650 km/s at 5007 Angstrom (observed)
    assert 600 < 2 * sci["CD1_1"] / 5150 * C_KMS < 700


def test_every_line_sits_bluer_by_about_the_same_offset(extraction):
    from reference_solution import line_redshifts

    lines = {"[O III] 5007": 5006.84, "[O III] 4959": 4958.91, "H-beta": 4861.33, "H-gamma": 4340.47}
    z = line_redshifts(extraction.wavelength, extraction.spectrum_final, lines=lines)
    offsets = np.array([rest * (z[name] - PUBLISHED_Z) for name, rest in lines.items()])  # Angstrom
    assert np.all(offsets < -15)  # bluer than the published redshift predicts, by about 4 pixels
    assert np.ptp(offsets) < 6  # about the same number of Angstrom: a shifted, not a stretched, axis
    assert abs(extraction.z - PUBLISHED_Z) > 0.002  # outside the redshift question's tolerance


def test_student_prose_gives_no_answer_away(extraction):
    text = _markdown("release")
    observed_5007 = 5006.84 * (1 + extraction.z)
    for value in (f"{extraction.z:.3f}", f"{extraction.z:.4f}", f"{observed_5007:.0f}", f"{round(observed_5007, -1):.0f}",
                  f"row {extraction.peak_row}", f"rows {extraction.peak_row - 4}"):
        assert value not in text, value
    title = text.split("\n", 1)[0] + text.split("## What you are looking at")[0]
    assert "calibrated spectrum" not in title.replace("not a *calibrated* spectrum", "")  # the promise of the title
    assert "a few hundred km/s" not in text.split("Their width in your")[0]  # not as the width of [O III] here


def test_the_course_ends_with_further_reading():
    nb = nbformat.read(ROOT / "release" / NOTEBOOK, as_version=4)
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Further reading")
    for link in ("numpy.org/doc/stable/user", "docs.scipy.org/doc/scipy/tutorial", "specutils", "specreduce"):
        assert link in last.source, link
