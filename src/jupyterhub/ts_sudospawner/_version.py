"""The package version. Equal to [project] version in pyproject.toml and to package.json's
version (a test compares them); read from here, not from installed metadata, so that a hub that
loads the package from a path (JupyterHub 3.0 on Debian) knows it too."""

__version__ = "0.1.0"
