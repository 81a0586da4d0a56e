"""The agent desktop: the web page the gateway serves at ``/`` (``static/``).

Plain HTML, CSS and JavaScript with no build step: the page signs in with an agent
token, lists the queues the token may read in priority order, follows their changes over
Server-Sent Events and claims, completes and dismisses tasks through ``/api``.
"""
