"""Configuration, around one settings table.

    table     every setting: YAML key, environment variable, type (its parser), default, secret
              or not, meaning; renders docs/configuration.md
    values    the parsers and checks of single values (every error a ConfigError naming its key)
    settings  the frozen records the bot reads (`Settings` and its sections), defaults from the table
    load      `load_settings`: environment over YAML file over defaults
    describe  `describe_settings`: the start-up log lines, secrets hidden
"""
