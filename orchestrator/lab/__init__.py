"""The embedded lab: real hosts on one Linux machine, with no cloud.

Each host is a network namespace on a lab bridge in 198.18.0.0/15, with private
mount, PID and UTS namespaces, chrooted into an overlayfs over a cached golden
Debian root filesystem, and running its own sshd. The lab also serves a local apt
repository on the bridge, which is the hosts' only mirror.

This room may touch: network namespaces, links and addresses it created itself,
its state directory, and its image cache. Nothing else on the machine.
"""
