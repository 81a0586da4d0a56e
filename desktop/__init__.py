"""The pages the gateway serves (``static/``): the agent desktop at ``/`` and the supervisor
view at ``/supervisor``.

Plain HTML, CSS and JavaScript with no build step (``common.js`` holds what both pages
share): the desktop signs in with an agent token, lists the queues the token may read in
priority order, follows their changes over Server-Sent Events and claims, completes and
dismisses tasks through ``/api``; the supervisor page signs in with a supervisor token and
shows its queues' backlog, breaches, agents and rules live, from ``/api/supervisor``.
"""

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
