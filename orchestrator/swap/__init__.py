"""The swap: how live traffic moves between colours, and the watchdog that undoes
a half-done one."""
