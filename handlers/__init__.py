"""The Slack app: Bolt listeners, the Bolt app and its HTTP server, the Slack notifier.

    app.py        build_app (Bolt app, every surface registered), build_web_app, start_slack_app
    workspace.py  requests from the installed workspace/app/org only   register(app, check)
    commands.py   `/cfy`                      register(app, services)
    actions.py    every button                register(app, services)
    notifier.py   bot.notifier.Notifier over the Slack Web API
    server.py     start_http: the one way an aiohttp server is started (returns the bound port)

A listener parses, acks and hands off to the dispatcher or a service in bot/; it never talks to a
Cloudify manager itself (tests/test_layers.py holds that).
"""
