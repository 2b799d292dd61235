"""The transform of a patch-only rollout of the sample app at v2: same app version,
same schema, only the servers' OS updated. Every table is copied as it is."""

from orchestrator.db.transform import identity

transform = identity({"accounts": ["id"], "addresses": ["account_id"]})
