"""The database room: the transform contract, pgoutput parsing, snapshot copy, change
replay, verification. It touches only the databases it is given DSNs for."""
