"""The load balancer: which colour is live, and holding requests during a cutover."""
