-- greenswap request hold: while the flag "hold" is "on" in greenswap-flags.map,
-- new requests wait here instead of reaching a backend. The wait is bounded by
-- "hold_max_ms" so a forgotten flag can never stall traffic for long.
local flags = Map.new("/etc/haproxy/greenswap-flags.map", Map._str)
local STEP_MS = 2

core.register_action("greenswap_hold", { "http-req" }, function(txn)
    if flags:lookup("hold") ~= "on" then
        return
    end
    local max_ms = tonumber(flags:lookup("hold_max_ms")) or 2000
    local waited = 0
    while flags:lookup("hold") == "on" and waited < max_ms do
        core.msleep(STEP_MS)
        waited = waited + STEP_MS
    end
end)
