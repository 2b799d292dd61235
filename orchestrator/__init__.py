"""greenswap: blue/green swaps of whole servers.

The package is split into rooms, each behind a small Protocol with a real driver and a fake:

- ``lab``        the embedded lab: namespace hosts, bridge, golden image, apt mirror
- ``providers``  where hosts come from (lab today; static and aws later)
- ``remote``     talking to hosts: paramiko for commands, ansible-runner for playbooks
- ``lb``         the load balancer: active backend, hold and release
- ``cli``        the ``greenswap`` command
"""

__version__ = "0.1.0"
