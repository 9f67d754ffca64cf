"""Files on disk: where each file of a run lives (paths), writing them whole and checked (files), one
job per run folder at a time (run_lock), and the fingerprint of a data folder. The bottom layer:
torch-free, imports nothing else of the package."""
