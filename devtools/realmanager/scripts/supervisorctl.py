#!/usr/bin/python3
# snapbot realmanager stand-in
"""supervisorctl, as Cloudify's snapshot restore calls it
(`/usr/bin/supervisorctl -c /etc/supervisord.conf start|stop|restart|status NAME`), acting on the
processes `snapbot realmanager` started: it asks the tool over its control socket. Laid out by
`snapbot realmanager --system-layout` and removed when it stops."""
import json
import socket
import sys

CONTROL_SOCKET = "@CONTROL_SOCKET@"
OPTIONS_WITH_VALUE = {"-c", "--configuration", "-s", "--serverurl", "-u", "--username",
                      "-p", "--password", "-r", "--history-file"}


def main(argv: list[str]) -> int:
    args = list(argv)
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option in OPTIONS_WITH_VALUE and args:
            args.pop(0)
    if not args:
        print("usage: supervisorctl [-c FILE] start|stop|restart|status NAME...", file=sys.stderr)
        return 2
    request = json.dumps({"action": args[0], "names": args[1:]}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(CONTROL_SOCKET)
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
            reply = b"".join(iter(lambda: s.recv(65536), b""))
    except OSError as exc:
        print(f"unix://{CONTROL_SOCKET} refused connection ({exc})", file=sys.stderr)
        return 7
    answer = json.loads(reply)
    if answer["output"]:
        print(answer["output"])
    return int(answer["code"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
