"""Run inside the REST service's virtualenv (never imported by snapbot): writes the bootstrap data
with Cloudify's own `manager_rest.configure_manager.configure` (which also creates the default
tenant's vhost and user through RabbitMQ's management API), then points the `config` rows that
name single-host paths at the paths given.

    python bootstrap_manager.py USER_CONFIG.yaml PATHS.json
"""
from __future__ import annotations

import json
import sys

import yaml  # type: ignore[import-untyped]
from manager_rest import config, configure_manager  # type: ignore[import-not-found]
from manager_rest.flask_utils import setup_flask_app  # type: ignore[import-not-found]
from manager_rest.storage import db, models  # type: ignore[import-not-found]


def main(argv: list[str]) -> int:
    user_config_path, paths_path = argv[0], argv[1]
    with open(user_config_path) as f:
        user_config = yaml.safe_load(f)
    with open(paths_path) as f:
        paths: dict[str, str] = json.load(f)
    config.instance.load_configuration(from_db=False)
    with setup_flask_app().app_context():
        config.instance.load_from_db(session=db.session)
        configure_manager.configure(user_config)
        for name, value in paths.items():
            row = db.session.get(models.Config, {"name": name, "scope": "rest"})
            row.value = value
        db.session.commit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
