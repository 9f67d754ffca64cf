"""The paper's data sets as files: where to get them, how to check a folder of them.

  catalog    every data set's sources, checksums, size and licence, or the steps to get it by hand (torch-free)
  published  is a folder the published data set? Its files' checksums against the catalog's
  fetch      download, verify, unpack and move into place (pooch), one process at a time
  ready      the job of the rule fetch_data: download for data_dir: auto, check folders placed by hand
  inspect    what a folder holds, counted, and what is missing or malformed (`nowrongturns data check`)
"""
