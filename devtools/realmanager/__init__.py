"""A real Cloudify Manager 7.0.5, from Cloudify's own source, on loopback: `snapbot realmanager`
and the `RealManager` API the real-manager tests use (docs/development.md)."""
from devtools.realmanager.manager import RealManager, RealManagerError, RealManagerOptions
from devtools.realmanager.source import SOURCE_ENV, SourceError

__all__ = ["SOURCE_ENV", "RealManager", "RealManagerError", "RealManagerOptions", "SourceError"]
