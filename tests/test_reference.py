"""Correctness of ``reference_solution``: against the workshop's literal recipes, exact
synthetic cases and brute force, on the real 3C120 file where it is available."""

import math
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
from astropy.io import fits

import reference_solution as rs
from reference_solution import basics, extraction, io, wavelength

DATA = Path(os.environ.get("COURSE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")) / "3c120_stis.fits.gz"
needs_data = pytest.mark.skipif(not DATA.is_file(), reason="course data file not available")

NROWS, NCOLS = 512, 511
PUBLISHED_Z = 0.0330
# The documented value on the header wavelength axis (see wavelength.py): 0.0287,
# within 0.0286-0.0289 for half-widths 15-30 A. Test window a little wider than that.
Z_HEADER_RANGE = (0.0283, 0.0292)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def ext():
    """The whole pipeline on the real file, once per module."""
    if not DATA.is_file():
        pytest.skip("course data file not available")
    return rs.extract(DATA)


@pytest.fixture(scope="module")
def literal(ext):
    """The workshop's cosmic-ray recipe, written out literally on the raw arrays."""
    img = np.array(ext.img)
    err = np.array(ext.err)
    img_sm = scipy.signal.medfilt(img, 5)
    sigma = np.median(err)
    bad = np.abs(img - img_sm) / sigma > 8.0
    img_cr = img.copy()
    img_cr[bad] = img_sm[bad]
    img_cr[230:280, :] = img[230:280, :]
    return {"img_sm": img_sm, "sigma": sigma, "bad": bad, "img_cr": img_cr}


def literal_background(img, rows):
    """The workshop's per-column loop: polyfit then polyval at every row."""
    nrows, ncols = img.shape
    out = np.empty((nrows, ncols))
    allrows = np.arange(nrows)
    for col in range(ncols):
        coeffs = np.polyfit(rows, img[rows, col], 2)
        out[:, col] = np.polyval(coeffs, allrows)
    return out


def row_index_image(nrows=NROWS, ncols=NCOLS):
    """Synthetic image whose every pixel equals its row index."""
    return np.repeat(np.arange(nrows, dtype=np.float64)[:, None], ncols, axis=1)


def assert_close_rel(actual, expected, rel=1e-9):
    """|actual - expected| <= rel * max|expected|, elementwise (scale-relative)."""
    scale = np.max(np.abs(expected))
    assert actual.shape == expected.shape
    assert np.max(np.abs(actual - expected)) <= rel * scale


# ---------------------------------------------------------------------------- io


@needs_data
def test_load_images_shapes_dtypes_native_copies():
    sci, err, dq = rs.load_images(DATA)
    for arr in (sci, err, dq):
        assert arr.shape == (NROWS, NCOLS)
        assert arr.dtype.isnative
        assert arr.flags.owndata and not isinstance(arr, np.memmap)
    assert sci.dtype == np.float64 and err.dtype == np.float64
    assert dq.dtype == np.int16
    with fits.open(DATA) as hdul:
        on_disk = {name: hdul[name].data.copy() for name in ("SCI", "ERR", "DQ")}
    assert on_disk["SCI"].dtype == np.dtype(">f4")  # the trap really is there
    np.testing.assert_array_equal(sci, on_disk["SCI"].astype(np.float64))
    np.testing.assert_array_equal(err, on_disk["ERR"].astype(np.float64))
    np.testing.assert_array_equal(dq, on_disk["DQ"])
    assert not np.array_equal(sci, err)  # SCI and ERR not swapped


@needs_data
def test_medfilt_trap_raw_raises_loaded_works():
    raw = fits.getdata(DATA, "SCI")
    assert not raw.dtype.isnative
    with pytest.raises(ValueError, match="not supported"):
        scipy.signal.medfilt(raw, 5)
    sci, _, _ = rs.load_images(DATA)
    sm = rs.median_smooth(sci)
    assert sm.dtype == np.float64 and sm.shape == sci.shape
    np.testing.assert_array_equal(sm, scipy.signal.medfilt(raw.astype(np.float64), 5))


@pytest.mark.parametrize("size", [1, 3, 5, 7])
def test_median_smooth_is_medfilt_at_every_size(size):
    """The reference computes medfilt's zero-padded median with scipy.ndimage."""
    img = np.random.default_rng(size).normal(100.0, 30.0, size=(23, 31))
    img[4, 7] = 5000.0  # a cosmic ray
    np.testing.assert_array_equal(rs.median_smooth(img, size), scipy.signal.medfilt(img, size))


@needs_data
def test_read_sci_header():
    header = rs.read_sci_header(DATA)
    assert header["EXTNAME"] == "SCI"
    assert header["CTYPE1"] == "WAVE"
    assert header["CRVAL1"] == 4300.0 and header["EXPTIME"] == 720.0


# ----------------------------------------------------------------------- sums


def test_sums_on_row_index_image():
    img = row_index_image()
    before = img.copy()
    np.testing.assert_array_equal(rs.spatial_profile(img), np.arange(NROWS) * NCOLS)
    np.testing.assert_array_equal(rs.raw_spectrum(img), np.full(NCOLS, NROWS * (NROWS - 1) / 2))
    expected_src = np.full(NCOLS, float(sum(range(250, 260))))  # 2545: rows 250..259 inclusive
    np.testing.assert_array_equal(rs.sum_rows(img), expected_src)
    np.testing.assert_array_equal(rs.final_spectrum(img), expected_src)
    np.testing.assert_array_equal(rs.sum_rows(img, (250, 259)), img[250:260].sum(axis=0))
    np.testing.assert_array_equal(img, before)


def test_inclusive_row_convention():
    img = row_index_image()
    np.testing.assert_array_equal(rs.sum_rows(img, (7, 7)), np.full(NCOLS, 7.0))
    np.testing.assert_array_equal(rs.sum_rows(img, (0, NROWS - 1)), rs.raw_spectrum(img))
    np.testing.assert_array_equal(rs.final_spectrum(img, (10, 11)), np.full(NCOLS, 21.0))
    for bad_rows in [(259, 250), (0, NROWS), (-1, 5)]:
        with pytest.raises(ValueError):
            rs.sum_rows(img, bad_rows)


def test_sums_distinguish_axes():
    # columns carry different values: an axis swap changes shapes and values
    img = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(rs.spatial_profile(img), [3.0, 12.0])
    np.testing.assert_array_equal(rs.raw_spectrum(img), [3.0, 5.0, 7.0])


# ---------------------------------------------------------------- cosmic rays


@needs_data
def test_cleaning_reproduces_literal_recipe(ext, literal):
    np.testing.assert_array_equal(ext.img_sm, literal["img_sm"])
    assert ext.sigma == literal["sigma"]
    assert np.array_equal(ext.bad, literal["bad"])
    assert np.array_equal(ext.img_cr, literal["img_cr"])
    assert ext.bad.sum() > 100  # the recipe really flags something
    # and the cleaning really changed pixels, but none of rows 230..279
    changed = ext.img_cr != ext.img
    assert changed.any() and not changed[230:280].any()
    assert ext.bad[230:280].any()  # flagged there, yet kept


def test_cosmic_ray_spikes_synthetic():
    rng = np.random.default_rng(42)
    img = 100.0 + rng.normal(0.0, 1.0, (NROWS, NCOLS))
    img[100, 200] += 500.0  # far from the protected rows: removed
    img[255, 300] += 500.0  # inside rows 230..279: kept
    err = np.ones_like(img)
    img0, err0 = img.copy(), err.copy()
    img_sm = rs.median_smooth(img)
    sigma = rs.noise_sigma(err)
    assert sigma == 1.0
    bad = rs.cosmic_ray_mask(img, img_sm, sigma)
    assert bad[100, 200] and bad[255, 300]
    # only the two spikes and the zero-padded border stand out
    assert not bad[2:-2, 2:-2][~np.isin(np.arange(2, NROWS - 2), [100, 255])].any()
    img_cr = rs.clean_cosmic_rays(img, img_sm, bad)
    assert abs(img_cr[100, 200] - 100.0) < 5.0
    assert img_cr[100, 200] == img_sm[100, 200]
    assert img_cr[255, 300] == img[255, 300] > 550.0
    np.testing.assert_array_equal(img_cr[230:280], img[230:280])
    np.testing.assert_array_equal(img, img0)
    np.testing.assert_array_equal(err, err0)
    # without protection the inner spike goes too
    assert rs.clean_cosmic_rays(img, img_sm, bad, protect_rows=None)[255, 300] < 110.0


def test_cosmic_ray_mask_threshold_is_strict_and_scaled():
    img = np.array([[0.0, 8.0, 8.0001, -9.0]])
    sm = np.zeros_like(img)
    np.testing.assert_array_equal(rs.cosmic_ray_mask(img, sm, 1.0), [[False, False, True, True]])
    np.testing.assert_array_equal(rs.cosmic_ray_mask(img, sm, 2.0), [[False, False, False, False]])
    np.testing.assert_array_equal(rs.cosmic_ray_mask(img, sm, 1.0, threshold=5.0), [[False, True, True, True]])
    with pytest.raises(ValueError):
        rs.cosmic_ray_mask(img, sm, 0.0)


def test_cosmic_ray_mask_rounds_like_the_literal_recipe():
    # |d| / sigma > t and |d| > t * sigma can differ in the last bit (not for t = 8,
    # a power of two, but e.g. for t = 3). Students write the former: so must we.
    for d, sigma in [(20.789305415196893, 6.929768471732297), (28.029626534618114, 9.343208844872704)]:
        img = np.array([[d, -d, 0.0]])
        sm = np.zeros_like(img)
        literal = np.abs(img - sm) / sigma > 3.0
        assert not np.array_equal(literal, np.abs(img - sm) > 3.0 * sigma)
        np.testing.assert_array_equal(rs.cosmic_ray_mask(img, sm, sigma, threshold=3.0), literal)


def test_median_smooth_zero_padded():
    img = np.ones((7, 7))
    sm = rs.median_smooth(img)
    assert sm[3, 3] == 1.0
    assert sm[0, 0] == 0.0  # 9 of the 25 window pixels are real ones: median of padding
    with pytest.raises(ValueError):
        rs.median_smooth(img, 4)


# ----------------------------------------------------------------- background


def test_background_rows():
    rows = rs.background_rows()
    np.testing.assert_array_equal(rows, np.r_[10:200, 300:480])
    assert rows.size == 370 and np.issubdtype(rows.dtype, np.integer)
    assert {10, 199, 300, 479} <= set(rows.tolist())
    assert not {9, 200, 299, 480} & set(rows.tolist())


@needs_data
def test_background_matches_literal_loop_on_real_file(ext):
    img_cr = np.array(ext.img_cr)
    loop = literal_background(img_cr, np.r_[10:200, 300:480])
    np.testing.assert_allclose(rs.background_image(img_cr), loop, rtol=1e-9, atol=0)
    assert_close_rel(rs.background_image(img_cr), loop)
    assert_close_rel(np.asarray(ext.bkg), loop)
    np.testing.assert_array_equal(ext.img_bkg, ext.img_cr - ext.bkg)
    np.testing.assert_array_equal(ext.spectrum_final, ext.img_bkg[250:260].sum(axis=0))


def synthetic_background(seed=1):
    """Known quadratic per column, plus noise orthogonal to the fit (so the exact
    coefficients are the least-squares answer), plus a bright source off the
    background rows that the fit must ignore."""
    rng = np.random.default_rng(seed)
    rows = rs.background_rows()
    coeffs = np.vstack([rng.uniform(-1e-3, 1e-3, NCOLS), rng.uniform(-0.5, 0.5, NCOLS), rng.uniform(50, 150, NCOLS)])
    r = np.arange(NROWS, dtype=np.float64)
    clean = np.vander(r, 3) @ coeffs
    design = np.vander(rows.astype(np.float64), 3)
    noise = rng.normal(0.0, 3.0, (rows.size, NCOLS))
    noise -= design @ np.linalg.lstsq(design, noise, rcond=None)[0]  # orthogonal to the fit
    img = clean.copy()
    img[rows] += noise
    img[240:270] += 5000.0 * rng.random((30, NCOLS))  # the "galaxy": not background rows
    return img, coeffs, clean


def test_background_recovers_known_quadratic():
    img, coeffs, clean = synthetic_background()
    before = img.copy()
    fitted = rs.fit_background(img, rs.background_rows())
    assert fitted.shape == (3, NCOLS)
    np.testing.assert_allclose(fitted, coeffs, rtol=1e-8, atol=1e-10)
    bkg = rs.background_image(img)
    assert_close_rel(bkg, clean, 1e-10)
    assert_close_rel(bkg, literal_background(img, rs.background_rows()))
    np.testing.assert_array_equal(img, before)
    # with the galaxy rows wrongly included, the fit would be off
    wrong = rs.background_image(img, np.arange(NROWS))
    assert np.max(np.abs(wrong - clean)) > 100.0


def test_fit_background_is_one_polyfit_call(monkeypatch):
    img, _, _ = synthetic_background()
    calls = []
    real_polyfit = np.polyfit

    def counting_polyfit(*args, **kwargs):
        calls.append(np.shape(args[1]))
        return real_polyfit(*args, **kwargs)

    monkeypatch.setattr(np, "polyfit", counting_polyfit)
    rs.fit_background(img, rs.background_rows())
    assert calls == [(370, NCOLS)]


def test_evaluate_background_is_polyval():
    rng = np.random.default_rng(3)
    coeffs = rng.normal(size=(3, 4))
    out = rs.evaluate_background(coeffs, 6)
    assert out.shape == (6, 4)
    expected = np.column_stack([np.polyval(coeffs[:, c], np.arange(6)) for c in range(4)])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(rs.subtract_background(out, out), np.zeros((6, 4)))


# ------------------------------------------------------------------ wavelength


@needs_data
def test_wavelength_axis_matches_header_formula():
    header = rs.read_sci_header(DATA)
    wl = rs.wavelength_axis(header)
    i = np.arange(header["NAXIS1"])
    expected = header["CRVAL1"] + header["CD1_1"] * (i + 1 - header["CRPIX1"])
    assert wl.shape == (NCOLS,) and wl.dtype == np.float64
    np.testing.assert_allclose(wl, expected, rtol=1e-12)
    assert np.all(np.diff(wl) > 0)
    assert 2880 < wl[0] < 2890 and 5680 < wl[-1] < 5690  # Angstrom, not metres
    np.testing.assert_allclose(rs.wavelength_axis(header, 10), expected[:10], rtol=1e-12)


def test_wavelength_axis_converts_units_to_angstrom():
    header = fits.Header()
    header["NAXIS"] = 1
    header["NAXIS1"] = 5
    header["CTYPE1"] = "WAVE"
    header["CUNIT1"] = "nm"
    header["CRVAL1"] = 430.0
    header["CRPIX1"] = 3.0
    header["CDELT1"] = 0.5
    np.testing.assert_allclose(rs.wavelength_axis(header), [4290.0, 4295.0, 4300.0, 4305.0, 4310.0], rtol=1e-12)


def synthetic_spectrum(z, wl=None):
    """Gaussian lines at REST_LINES * (1 + z) on a sloped continuum."""
    if wl is None:
        wl = 4300.0 + 5.492 * (np.arange(NCOLS) + 1 - 258.7)
    continuum = 1000.0 + 0.8 * (wl - 4000.0)
    amplitude = {"[O III] 5007": 40000.0, "[O III] 4959": 13000.0, "H-beta": 20000.0}
    flux = continuum.copy()
    for name, rest in rs.REST_LINES.items():
        flux += amplitude[name] * np.exp(-0.5 * ((wl - rest * (1 + z)) / 4.7) ** 2)
    return wl, flux


@pytest.mark.parametrize("z_true", [0.02500, 0.02871, 0.03123, 0.03800])
def test_measure_redshift_recovers_synthetic_z(z_true):
    wl, flux = synthetic_spectrum(z_true)
    before = flux.copy()
    z = rs.measure_redshift(wl, flux)
    assert abs(z - z_true) < 1e-4
    for zl in rs.line_redshifts(wl, flux).values():
        assert abs(zl - z_true) < 1e-4
    np.testing.assert_array_equal(flux, before)


def test_line_centroid_subtracts_sloped_continuum_and_ignores_guess():
    wl = np.arange(4000.0, 6000.0, 5.492)
    centre = 5123.4
    flux = 3000.0 + 10.0 * (wl - 5000.0) + 2000.0 * np.exp(-0.5 * ((wl - centre) / 4.7) ** 2)
    for guess in (centre - 6.0, centre, centre + 6.0):
        assert abs(rs.line_centroid(wl, flux, guess) - centre) < 0.2
    # a plain flux-weighted mean over the same (peak-centred) window would be far off
    peak = wl[np.argmin(np.abs(wl - centre))]
    assert peak != centre
    inside = np.abs(wl - peak) <= 25.0
    assert abs((wl[inside] * flux[inside]).sum() / flux[inside].sum() - centre) > 1.0


def test_rest_lines():
    assert rs.REST_LINES["[O III] 5007"] == pytest.approx(5006.84)
    assert rs.REST_LINES["[O III] 4959"] == pytest.approx(4958.91)
    assert rs.REST_LINES["H-beta"] == pytest.approx(4861.33)


@needs_data
def test_measure_redshift_on_real_file(ext):
    z = ext.z
    assert Z_HEADER_RANGE[0] < z < Z_HEADER_RANGE[1]
    assert z < PUBLISHED_Z - 0.003
    assert rs.measure_redshift(ext.wavelength, ext.spectrum_final) == z
    # robust to the starting guess and to the window
    for z_guess in (0.026, 0.030, 0.036, 0.040):
        assert rs.measure_redshift(ext.wavelength, ext.spectrum_final, z_guess=z_guess) == pytest.approx(z, abs=1e-9)
    for half_width in (15.0, 20.0, 30.0):
        assert abs(rs.measure_redshift(ext.wavelength, ext.spectrum_final, half_width=half_width) - z) < 5e-4
    for zl in rs.line_redshifts(ext.wavelength, ext.spectrum_final).values():
        assert Z_HEADER_RANGE[0] < zl < Z_HEADER_RANGE[1]


# -------------------------------------------------------------------- pipeline


@needs_data
def test_extraction_products(ext):
    assert ext.img.shape == ext.bkg.shape == ext.img_bkg.shape == (NROWS, NCOLS)
    assert ext.profile.shape == (NROWS,) and ext.spectrum_final.shape == (NCOLS,)
    np.testing.assert_array_equal(ext.profile, ext.img.sum(axis=1))
    np.testing.assert_array_equal(ext.spectrum_raw, ext.img.sum(axis=0))
    np.testing.assert_array_equal(ext.spectrum_src, ext.img[250:260].sum(axis=0))
    assert 250 <= int(np.argmax(ext.profile)) <= 259  # the nucleus is in the source rows
    np.testing.assert_array_equal(ext.bkg_rows, np.r_[10:200, 300:480])
    assert ext.wavelength.shape == (NCOLS,)
    # the [O III] 5007 peak is the maximum of the final spectrum
    assert abs(ext.wavelength[np.argmax(ext.spectrum_final)] - 5006.84 * (1 + ext.z)) < 6.0
    for value in vars(ext).values():
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable
    with pytest.raises(ValueError):
        ext.img[0, 0] = 1.0


def test_extraction_functions_do_not_mutate_inputs():
    rng = np.random.default_rng(7)
    img = rng.normal(100.0, 5.0, (NROWS, NCOLS))
    err = rng.uniform(1.0, 2.0, (NROWS, NCOLS))
    img0, err0 = img.copy(), err.copy()
    img_sm = rs.median_smooth(img)
    sm0 = img_sm.copy()
    bad = rs.cosmic_ray_mask(img, img_sm, rs.noise_sigma(err), threshold=2.0)
    bad0 = bad.copy()
    img_cr = rs.clean_cosmic_rays(img, img_sm, bad)
    assert not np.shares_memory(img_cr, img)
    bkg = rs.background_image(img_cr)
    rs.subtract_background(img_cr, bkg)
    rs.sum_rows(img)
    for now, then in [(img, img0), (err, err0), (img_sm, sm0), (bad, bad0)]:
        np.testing.assert_array_equal(now, then)


# ---------------------------------------------------------------------- basics


def test_ripple_grid_and_values():
    x, y, z = rs.ripple()
    assert x.shape == (1, 161) and y.shape == (161, 1) and z.shape == (161, 161)
    assert x[0, 0] == -20.0 and x[0, -1] == 20.0
    np.testing.assert_array_equal(np.diff(x[0]), np.full(160, 0.25))
    np.testing.assert_array_equal(y[:, 0], x[0])
    assert z[80, 80] == 1 / 5  # the origin
    assert np.array_equal(z, z.T)
    for i, j in [(0, 0), (3, 150), (100, 20), (80, 161 - 1)]:
        r = math.sqrt(x[0, j] ** 2 + y[i, 0] ** 2)
        assert z[i, j] == pytest.approx(math.cos(r) / (r + 5), rel=1e-14)
    xs, ys, zs = rs.ripple(-1.0, 1.0, 0.5)
    np.testing.assert_array_equal(xs[0], [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert zs.shape == (5, 5)


def test_disk_mask_matches_brute_force():
    x, y, _ = rs.ripple()
    x0, y0 = x.copy(), y.copy()
    mask = rs.disk_mask(x, y)
    assert mask.shape == (161, 161) and mask.dtype == bool
    count = 0
    on_circle = 0
    for i in range(161):
        for j in range(161):
            d = math.sqrt((x[0, j] - 10.0) ** 2 + (y[i, 0] - 15.0) ** 2)
            count += d < 10.0
            on_circle += d == 10.0
            assert mask[i, j] == (d < 10.0)
    assert mask.sum() == count
    assert on_circle > 0  # the grid has points on the circle: strict < matters
    assert mask[int((15 - -20) / 0.25), int((10 - -20) / 0.25)]  # the centre (x=10, y=15)
    assert not mask[int((15 - -20) / 0.25), int((20 - -20) / 0.25)]  # (20, 15), on the circle
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_zero_disk_copy():
    x, y, z = rs.ripple()
    z0 = z.copy()
    out = rs.zero_disk(z, x, y)
    mask = rs.disk_mask(x, y)
    assert np.all(out[mask] == 0) and mask.any()
    np.testing.assert_array_equal(out[~mask], z[~mask])
    np.testing.assert_array_equal(z, z0)
    assert not np.shares_memory(out, z)


def test_sine_of_uniform():
    values, sines = rs.sine_of_uniform(1000, 12345)
    np.testing.assert_array_equal(values, np.random.default_rng(12345).random(1000))
    np.testing.assert_array_equal(sines, np.sin(values))
    assert values.shape == (1000,) and 0.0 <= values.min() and values.max() < 1.0
    again, _ = rs.sine_of_uniform(1000, 12345)
    np.testing.assert_array_equal(values, again)
    other, _ = rs.sine_of_uniform(1000, 54321)
    assert not np.array_equal(values, other)


def test_between_and_views():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(rs.between(a, 2.0, 4.0), [False, False, True, False, False])
    np.testing.assert_array_equal(a[rs.between(a, 1.5, 4.5)], [2.0, 3.0, 4.0])
    assert rs.is_view_of(a[1:3], a)
    assert not rs.is_view_of(a[[1, 2]], a)
    assert not rs.is_view_of(a.copy(), a)


# ------------------------------------------------------------------------ API


def test_public_api_exports():
    for module in (io, extraction, wavelength, basics):
        for name in module.__all__:
            assert getattr(rs, name) is getattr(module, name)
            assert name in rs.__all__
            assert getattr(module, name).__doc__ or name == "REST_LINES"
