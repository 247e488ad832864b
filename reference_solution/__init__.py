"""Reference solution of the workshop "NumPy by reducing a real long-slit spectrum".

HST/STIS G430L long-slit spectrum of the radio galaxy 3C120. Small pure functions
(arrays in, new arrays out; inputs are never modified), vectorized, with the
workshop's numbers as keyword defaults. Axis 0 = rows = spatial (along the slit),
axis 1 = columns = dispersion (wavelength); row ranges are inclusive pairs
``(first, last)``: "rows 250..259" is ``(250, 259)``, i.e. ``img[250:260]``.

Modules: :mod:`.io` (reading the file), :mod:`.extraction` (profile, cosmic rays,
background, spectrum, and :func:`extract`, the whole pipeline), :mod:`.wavelength`
(wavelength axis, line centroids, redshift) and :mod:`.basics` (the basics exercises).
"""

from .basics import between, disk_mask, is_view_of, ripple, sine_of_uniform, zero_disk
from .extraction import (
    Extraction,
    background_image,
    background_rows,
    clean_cosmic_rays,
    cosmic_ray_mask,
    evaluate_background,
    extract,
    final_spectrum,
    fit_background,
    fit_column,
    median_smooth,
    noise_sigma,
    peak_row,
    raw_spectrum,
    source_band,
    spatial_profile,
    subtract_background,
    sum_rows,
)
from .io import load_images, read_sci_header
from .wavelength import (
    REST_LINES,
    coarse_redshift,
    line_centroid,
    line_redshifts,
    measure_redshift,
    wavelength_axis,
)

__all__ = [
    "REST_LINES",
    "Extraction",
    "background_image",
    "background_rows",
    "between",
    "clean_cosmic_rays",
    "coarse_redshift",
    "cosmic_ray_mask",
    "disk_mask",
    "evaluate_background",
    "extract",
    "final_spectrum",
    "fit_background",
    "fit_column",
    "is_view_of",
    "line_centroid",
    "line_redshifts",
    "load_images",
    "measure_redshift",
    "median_smooth",
    "noise_sigma",
    "peak_row",
    "raw_spectrum",
    "read_sci_header",
    "ripple",
    "sine_of_uniform",
    "source_band",
    "spatial_profile",
    "subtract_background",
    "sum_rows",
    "wavelength_axis",
    "zero_disk",
]
