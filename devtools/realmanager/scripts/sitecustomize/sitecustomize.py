"""Put on PYTHONPATH of Cloudify's processes when the manager runs without the single-host
layout: cloudify-common reads the encryption key from a fixed path
(`cloudify.constants.SECURITY_FILE_LOCATION`, /opt/manager/rest-security.conf); this points it
at the state directory's copy named by SNAPBOT_REALMANAGER_SECURITY_CONF."""
import os

_path = os.environ.get("SNAPBOT_REALMANAGER_SECURITY_CONF")
if _path:
    import cloudify.constants  # type: ignore[import-not-found]
    import cloudify.cryptography_utils  # type: ignore[import-not-found]

    cloudify.constants.SECURITY_FILE_LOCATION = _path
    cloudify.cryptography_utils.SECURITY_FILE_LOCATION = _path
