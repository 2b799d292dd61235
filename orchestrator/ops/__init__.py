"""Around the rollout: health checks, hooks, notifications, the report, patch
windows and their timers."""
