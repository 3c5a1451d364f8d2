"""SRVGGNetCompact (Real-ESRGAN's compact network): the Compact vectors, by the file alone."""

from __future__ import annotations

import pytest

from tests.archs.vectors import check_vector


@pytest.mark.parametrize(("vector", "num_feat", "num_conv"), [("Compact_05", 32, 16), ("Compact_06", 64, 5)])
def test_compact_vectors_match_the_official_network(vector, num_feat, num_conv):
    check_vector(vector, "srvgg", num_feat=num_feat, num_conv=num_conv, act_type="prelu", scale=4)
