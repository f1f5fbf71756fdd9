"""The start-up description of the settings: (key, value) lines for the log that show every
setting of the table (tests/test_config.py sets each one and finds it), secrets hidden, URLs
without credentials, query strings or fragments."""
from __future__ import annotations

from bot.config.settings import Settings
from bot.urls import display_url


def _mask(secret: str) -> str:
    return "set (hidden)" if secret else "not set"


def describe_settings(settings: Settings) -> list[tuple[str, str]]:
    """(key, value) pairs for the start-up log, secrets masked, URLs without credentials,
    query strings or fragments."""
    out: list[tuple[str, str]] = []
    for i, mgr in enumerate(settings.managers):
        auth = "token" if mgr.token else ("password" if mgr.password else "no credentials")
        tls = mgr.ca_bundle or ("system CA store" if mgr.verify_tls else "TLS NOT verified")
        if mgr.password_file or mgr.token_file:
            auth += " (from file)"
        out.append((f"managers[{i}]", f"{mgr.name} {display_url(mgr.url)} tenant={mgr.tenant} "
                                      f"user={mgr.username} auth={auth} tls={tls} "
                                      f"snapshot_format={mgr.snapshot_format} "
                                      f"bootstrap_admin={mgr.bootstrap_admin}"
                                      + (" scratch" if mgr.scratch else "")
                                      + (f" drill={mgr.drill.target}@{mgr.drill.cron!r}"
                                         if mgr.drill else "")))
    sl = settings.slack
    mode = "socket mode" if sl.app_token else "http"
    out += [("slack.bot_token", _mask(sl.bot_token)),
            ("slack.signing_secret", _mask(sl.signing_secret)),
            ("slack.app_token", _mask(sl.app_token)),
            ("slack.mode", mode),
            ("slack.api_url", display_url(sl.api_url or "https://slack.com/api/")),
            ("channel", sl.channel or "not set")]
    ap = settings.approvals
    out += [("approvals.approvers", ", ".join(sorted(ap.approvers)) or "none"),
            ("approvals.approver_groups", ", ".join(sorted(ap.approver_groups)) or "none"),
            ("approvals.required", str(ap.required)),
            ("approvals.ttl_seconds", str(ap.ttl_seconds)),
            ("approvals.gated", ", ".join(sorted(ap.gated | {"snapshots.restore"})))]
    ac = settings.access
    out += [("access.operators", ", ".join(sorted(ac.operators))
             or "none (read-only for all but approvers)"),
            ("access.viewers", ", ".join(sorted(ac.viewers)) or "everyone in the channels"),
            ("access.channels", ", ".join(sorted(ac.channels)) or settings.slack.channel
             or "none"),
            ("access.terminal_users", ", ".join(f"{k}={v}" for k, v in ac.terminal_users)
             or "none"),
            ("access.workspace", " ".join(f"{k}={v}" for k, v in (
                ("team", ac.team_id), ("app", ac.app_id), ("enterprise", ac.enterprise_id)) if v)
             or "from auth.test")]
    sc = settings.schedule
    out.append(("schedule", f"{sc.cron} {sc.timezone}, misfire grace {sc.misfire_grace_seconds} s"
                            if sc.enabled else "off"))
    rt = settings.retention
    out.append(("retention", f"keep {rt.keep_on_manager} on manager, {rt.keep_archived} archived, "
                             + (f"audit {rt.keep_audit_days} days" if rt.keep_audit_days
                                else "audit forever")
                             + (", may delete foreign snapshots" if rt.delete_foreign else "")
                             + f", stale after {rt.stale_after_hours} h"))
    rb = settings.runbook
    out.append(("runbook", f"safety snapshot {'on' if rb.safety_snapshot else 'off'}, poll "
                           f"{rb.poll_interval_seconds:g}-{rb.poll_max_interval_seconds:g} s, "
                           f"timeouts (s): maintenance {rb.maintenance_timeout_seconds:g}, "
                           f"restore {rb.restore_timeout_seconds:g}, "
                           f"snapshot {rb.snapshot_timeout_seconds:g}, "
                           f"queue {rb.queue_timeout_seconds:g}, return {rb.return_timeout_seconds:g}, "
                           f"snapshot-status grace {rb.snapshot_status_grace_seconds:g}"))
    out += [("db_path", settings.db_path),
            ("archive", display_url(settings.archive_url) if settings.archive_url
             else f"directory {settings.archive_dir}"),
            ("log_format", settings.log_format),
            ("runbook_base_url", display_url(settings.runbook_base_url) if settings.runbook_base_url
             else "not set (runbook steps inline)"),
            ("config_file", settings.config_file or "none (environment only)")]
    return out
