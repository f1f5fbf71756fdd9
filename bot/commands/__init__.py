"""The `/cfy` grammar: typed commands (`model`), the parser (`parser`), help text (`help`)."""
from bot.commands.model import *  # noqa: F401,F403
from bot.commands.help import SPECS, CommandSpec, readme_command_table, spec, topic_specs  # noqa: F401
from bot.commands.parser import parse, validate_snapshot_id  # noqa: F401
