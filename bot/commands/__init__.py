"""The `/cfy` grammar: typed commands (`model`), the parser (`parser`), help text (`help`)."""
from bot.commands.model import *  # noqa: F401,F403
