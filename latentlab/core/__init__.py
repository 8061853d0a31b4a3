"""The core: params, paths, errors, artifacts, the data as read. No torch; every stage uses it."""
