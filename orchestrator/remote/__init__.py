"""Talking to hosts: paramiko for commands (``ssh``), ansible-runner for playbooks
(``ansible``). Host keys are always pinned; nothing here accepts an unknown key."""
