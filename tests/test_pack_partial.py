"""gsemlab.packing.pack's rules for the segment that does not fit, worked out by hand on a 4 x 4 image."""

from __future__ import annotations

import numpy as np
import pytest

from gsemlab.config import PACKET_PARTIAL_RULES, GenerationOptions
from gsemlab.packing import PARTIAL_RULES, pack

IMG = np.arange(16 * 3, dtype=np.uint8).reshape(4, 4, 3)
A = np.zeros((4, 4), bool)
A[0, :2] = True  # 2 pixels
B = np.zeros((4, 4), bool)
B[1:, :] = True  # 12 pixels: rows 1-3
C = np.zeros((4, 4), bool)
C[0, 3] = True  # 1 pixel


def test_raster_fills_the_budget_with_the_first_rows_of_the_next_segment():
    p = pack(IMG, [A, B, C], 5, partial="raster")
    expected = A.copy()
    expected[1, :3] = True  # 3 more pixels: B's first row, left to right
    assert np.array_equal(p.mask, expected)


def test_priority_sends_the_partial_segment_by_decreasing_priority():
    prio_b = np.zeros((4, 4))
    prio_b[3, 3], prio_b[2, 1], prio_b[3, 0] = 3.0, 2.0, 1.0
    p = pack(IMG, [A, B, C], 5, partial="priority", priorities=[np.zeros((4, 4)), prio_b, np.zeros((4, 4))])
    expected = A.copy()
    expected[3, 3] = expected[2, 1] = expected[3, 0] = True
    assert np.array_equal(p.mask, expected)
    assert np.array_equal(p.pixels, IMG[expected])


def test_skip_sends_whole_segments_only_and_goes_on_to_those_that_fit():
    p = pack(IMG, [A, B, C], 5, partial="skip")
    assert np.array_equal(p.mask, A | C)  # B (12) does not fit in 3, C (1) does


def test_stop_sends_the_longest_prefix_of_whole_segments():
    assert np.array_equal(pack(IMG, [A, B, C], 5).mask, A)  # B (12) does not fit in 3: C is not sent
    assert np.array_equal(pack(IMG, [A, B, C], 14, partial="stop").mask, A | B)
    assert not pack(IMG, [A, B, C], 1, partial="stop").mask.any()  # A (2) does not fit in 1


def test_no_budget_sends_everything_whatever_the_rule():
    for rule in PARTIAL_RULES:
        kw = {"priorities": [np.zeros((4, 4))] * 3} if rule == "priority" else {}
        assert pack(IMG, [A, B, C], None, partial=rule, **kw).mask.sum() == 15


@pytest.mark.parametrize("kwargs", [{"partial": "middle"}, {"partial": "priority"},
                                    {"partial": "priority", "priorities": [np.zeros((2, 2))] * 3}])
def test_bad_rules_and_priorities_are_named(kwargs):
    with pytest.raises(ValueError):
        pack(IMG, [A, B, C], 5, **kwargs)


def test_the_options_know_the_same_rules():
    assert PACKET_PARTIAL_RULES == PARTIAL_RULES
    assert GenerationOptions().partial == "stop" == PARTIAL_RULES[0]
    with pytest.raises(ValueError):
        GenerationOptions(partial="middle")
