"""The rollout's runbook: its phases in order, the journal that makes them
resumable, and the lease."""
