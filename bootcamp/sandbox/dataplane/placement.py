"""Where Auto Scaling puts an instance and which it takes first: pure decisions over (id, AZ) pairs.

The adapter's launch and scale-in hooks ask these, and so may the scaling loop; they read nothing of
moto's, so neither has to import the other for them.
"""

from __future__ import annotations

from collections import Counter


def next_subnet(subnets: list[tuple[str | None, str]], members: list[tuple[str | None, str]]):
    """Where a new instance goes: the group's AZ with the fewest members (ties: the group's order),
    and in it the subnet with the fewest. `subnets` and `members` are (subnet id, AZ) pairs."""
    if not subnets:
        raise ValueError("the group has no subnet or Availability Zone to launch in")
    zones = list(dict.fromkeys(az for _, az in subnets))
    per_zone = Counter(az for _, az in members)
    per_subnet = Counter(subnet for subnet, _ in members)
    zone = min(zones, key=lambda az: (per_zone[az], zones.index(az)))
    return min(((s, az) for s, az in subnets if az == zone), key=lambda pair: per_subnet[pair[0]])


def scale_in_order(members: list[tuple[str, str, float, bool]]) -> list[str]:
    """The order a scale-in terminates members in, by AWS's default termination policy: from the AZ
    with the most (ties: the later AZ by name), then an instance not launched from the group's
    current launch template version, then the oldest. `members`: (id, AZ, launched, current)."""
    left = list(members)
    order = []
    while left:
        per_zone = Counter(az for _, az, _, _ in left)
        zone = max(per_zone, key=lambda az: (per_zone[az], az))
        victim = min((m for m in left if m[1] == zone), key=lambda m: (m[3], m[2], m[0]))
        order.append(victim[0])
        left.remove(victim)
    return order
