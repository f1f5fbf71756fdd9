"""The `/cfy` grammar: typed commands (`model`), the parser (`parser`), help text (`help`).

Import the submodules themselves; this package module imports nothing (so no submodule's
import of a sibling runs a cycle through it)."""
