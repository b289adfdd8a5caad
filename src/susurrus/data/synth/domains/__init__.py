"""Conversation domains: nine in-domain (train/dev/test), three held out for test-ood."""

from __future__ import annotations

from susurrus.data.synth.domains import business, heldout, services
from susurrus.data.synth.script import Domain

IN_DOMAIN: tuple[Domain, ...] = services.DOMAINS + business.DOMAINS
HELD_OUT: tuple[Domain, ...] = heldout.DOMAINS
DOMAINS: dict[str, Domain] = {d.name: d for d in IN_DOMAIN + HELD_OUT}


def domains_for(ood: bool) -> tuple[Domain, ...]:
    """The domains a split draws from: held-out ones only for test-ood."""
    return HELD_OUT if ood else IN_DOMAIN
