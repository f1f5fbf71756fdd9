"""A cluster in Slack: its nodes, which are active, and its health."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import runbooks
from bot.cloudify.cluster import ClusterHealth, assess
from bot.cloudify.models import ManagerNode
from bot.messages.blocks import SECTION_MAX, context, header, section, truncate
from bot.messages.common import Message, capped, line_sections, message

HEALTH_EMOJI = {"ok": ":large_green_circle:", "degraded": ":large_yellow_circle:",
                "fail": ":red_circle:", "failed": ":red_circle:"}


def _health(status: Any) -> str:
    s = str(status or "?")
    return f"{HEALTH_EMOJI.get(s.lower(), ':grey_question:')} {s}"


def cluster_status(manager: str, status: dict[str, Any] | None, nodes: Sequence[ManagerNode],
                   cluster: dict[str, Any] | None = None, *, health: ClusterHealth | None = None,
                   version: str | None = None, runbook_base_url: str | None = None) -> Message:
    """`/cfy cluster status`: health (/status, /cluster-status), the nodes (/managers), the nodes
    that are down, and a split-brain warning with its runbook (see bot.cloudify.cluster)."""
    status = status or {}
    if health is None:
        health = assess(nodes, cluster)
    overall = (cluster or {}).get("status") or health.status or status.get("status")
    title = f"Cluster status of {manager}"
    blocks: list[dict[str, Any]] = [header(title)]
    summary = f"*Health:* {_health(overall)}"
    if version:
        summary += f"   *Version:* {version}"
    summary += f"   *Nodes:* {len(nodes)}"
    blocks.append(section(summary))
    if health.split_brain:
        blocks.append(section(truncate(
            f":rotating_light: *Split brain:* {health.split_brain}. Do not restore or change "
            f"anything until it is resolved; {runbooks.reference(runbooks.SPLIT_BRAIN, runbook_base_url)}",
            SECTION_MAX)))
    elif health.failed:
        blocks.append(section(truncate(
            ":red_circle: *Cluster status Fail*"
            + (f": {', '.join(health.down)} not OK" if health.down else "")
            + f". Restores are refused until it recovers; "
            f"{runbooks.reference(runbooks.CLUSTER_FAIL, runbook_base_url)}", SECTION_MAX)))
    if health.down and not health.failed:
        blocks.append(section(":warning: *Down:* " + ", ".join(f"`{d}`" for d in health.down)))
    rows = []
    for n in nodes:
        active = " :star: active" if n.is_active else ""
        ips = " / ".join(ip for ip in (n.private_ip, n.public_ip) if ip)
        rows.append(f"• `{n.hostname or '?'}` {ips} {n.version}"
                    + (f" {_health(n.status)}" if n.status else "") + active)
    if rows:
        blocks.extend(line_sections(capped(rows)))
    services = (cluster or {}).get("services") or status.get("services") or {}
    if isinstance(services, dict) and services:
        srows = []
        for name, svc in services.items():
            st = svc.get("status") if isinstance(svc, dict) else svc
            srows.append(f"{name}: {_health(st)}")
        blocks.append(context(truncate(" · ".join(capped(srows, 20)), 2000)))
    text = f"{title}: {overall or '?'}, {len(nodes)} node(s)"
    if health.split_brain:
        text += f" — SPLIT BRAIN: {health.split_brain}"
    if health.down:
        text += f" — down: {', '.join(health.down)}"
    return message(text, blocks)
