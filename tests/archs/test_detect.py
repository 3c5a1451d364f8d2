"""Every network's ``detect`` returns None, never raises, for a state dict not its network."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network, detection_order
from superres.weights import detect_arch

_SMALL = {
    "srvgg": {"scale": 2, "num_feat": 4, "num_conv": 1},
    "edsr": {"scale": 2, "num_feat": 8, "num_block": 1},
    "imdn": {"scale": 2, "num_feat": 8, "num_modules": 1},
    "rrdbnet": {"scale": 2, "num_feat": 8, "num_block": 1, "num_grow_ch": 4},
}


def _mutations(state):
    """Each key dropped, and each tensor replaced by one of the wrong rank, size or type."""
    for key in state:
        yield f"no {key}", {k: v for k, v in state.items() if k != key}
        for name, value in [
            ("1-D", torch.zeros(4)),
            ("0-D", torch.tensor(1.0)),
            ("zero size", torch.zeros(0, 3, 3, 3)),
            ("zero in", torch.zeros(4, 0, 3, 3)),
            ("int", state[key].to(torch.int32)),
            ("not a tensor", [1, 2]),
        ]:
            yield f"{key} {name}", {**state, key: value}
    yield "int keys", dict(enumerate(state.values()))
    yield "mixed keys", {**state, 7: torch.zeros(1)}
    yield "odd body index", {**state, "body.x.weight": torch.zeros(4, 4, 3, 3)}
    yield "empty", {}
    yield "a list", list(state.values())


@pytest.mark.parametrize("network", sorted(_SMALL))
def test_detect_never_raises_on_a_mangled_state_dict(network):
    state = build_network(network, **_SMALL[network]).state_dict()
    assert detect_arch(state)[0] == network
    for candidate in detection_order():
        for label, mangled in _mutations(state):
            try:
                candidate.detect(mangled)
            except Exception as exc:
                pytest.fail(f"{candidate.name}.detect on {network} with {label}: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("network", sorted(_SMALL))
def test_detect_refuses_wrong_dtypes_and_key_types(network):
    state = build_network(network, **_SMALL[network]).state_dict()
    (own,) = [s for s in detection_order() if s.name == network]
    assert own.detect({k: v.to(torch.int32) for k, v in state.items()}) is None
    assert own.detect(dict(enumerate(state.values()))) is None
    assert own.detect({**state, 7: torch.zeros(1)}) is None
