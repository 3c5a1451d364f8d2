"""Running superres on distributed engines: Ray for many files (ray.py), Dask for rasters
larger than memory (dask.py)."""
