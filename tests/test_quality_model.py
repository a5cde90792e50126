"""The gain-space quality model on synthetic curves with known answers (no catalog numbers)."""

import numpy as np
import pytest

from simulator.quality.estimate import QualityModel, Task
from simulator.quality.model import Band, Estimate, PositionCurves, ReaderCurve, RecallCurve

LENGTHS = (4096, 8192, 16384, 32768)


def reader(scores=(90.0, 88.0, 84.0, 80.0), measured=True):
    return ReaderCurve(name="synthetic", lengths=LENGTHS, scores=scores, measured=measured, source="test",
                       low_drop_per_doubling=6.0, envelope_low=(80.0, 70.0, 60.0, 50.0),
                       envelope_high=(95.0, 95.0, 94.0, 93.0))


def position(measured=True):
    # gains at 10 and 20 passages: U-shaped, the middle of 20 below closed-book
    return PositionCurves(name="synthetic", num_passages=(10, 20), positions=((0.0, 0.5, 1.0), (0.0, 0.5, 1.0)),
                          gains=((0.8, 0.4, 0.6), (0.6, -0.1, 0.3)), spread_low=((0.7, 0.2, 0.5), (0.5, -0.2, 0.2)),
                          spread_high=((0.9, 0.6, 0.8), (0.8, 0.2, 0.5)), measured=measured, passage_tokens=100.0)


def recall():
    return RecallCurve(name="synthetic", ks=(1, 10, 100), values=(0.5, 0.8, 0.95), lows=(0.4, 0.7, 0.9),
                       highs=(0.6, 0.9, 0.99), source="test")


def quality(**changes):
    fields = dict(model="m", task=Task("qa", hops=1, answerable_by_retrieval=Band.exact(1.0)),
                  closed_book=Band.exact(0.5), oracle=Band.exact(0.9), reader=reader(), position=position(),
                  recall=recall(), routed_share=None, source="test")
    fields.update(changes)
    return QualityModel(**fields)


def test_reader_interpolates_inside_and_widens_a_flagged_band_past_the_last_length():
    r = reader()
    inside = r.score(8192)
    assert float(inside.value) == pytest.approx(88.0) and float(inside.low) == float(inside.high) == 88.0
    assert not bool(inside.extrapolated)
    one, two = r.score(65536), r.score(131072)
    assert bool(one.extrapolated) and bool(two.extrapolated)
    assert float(one.value) == pytest.approx(76.0)                 # the last doubling's drop (4) continues
    assert float(one.high) == pytest.approx(80.0)                  # high side holds the last measured score
    assert float(one.low) == pytest.approx(72.0)                   # low side: twice the drop (8 > 6 per doubling)
    assert float(two.high - two.low) > float(one.high - one.low)   # the band widens with length
    assert float(r.relative(4096).value) == 1.0 and float(r.relative(32768).value) == pytest.approx(80 / 90)


def test_a_proxy_reader_row_carries_the_table_envelope():
    proxy = reader(measured=False).score(16384)
    assert float(proxy.low) == pytest.approx(60.0) and float(proxy.high) == pytest.approx(94.0)


def test_effective_length_is_rulers_definition():
    assert reader().effective_length(85.6) == 8192
    assert reader((80.0, 79.0, 78.0, 77.0)).effective_length(85.6) is None


def test_position_gain_is_one_for_a_single_passage_and_falls_below_closed_book_in_the_middle():
    p = position()
    assert float(p.gain(0.5, 1).value) == pytest.approx(1.0)
    assert float(p.gain(0.5, 20).value) == pytest.approx(-0.1)
    assert float(p.gain(0.0, 20).value) > float(p.gain(1.0, 20).value) > float(p.gain(0.5, 20).value)
    between = float(p.gain(0.0, np.sqrt(200)).value)                # halfway in log n between 10 and 20
    assert between == pytest.approx(0.7)
    past = p.gain(0.5, 40)
    assert bool(past.extrapolated) and float(past.value) == pytest.approx(-0.1) and float(past.low) < -0.1


def test_long_context_accuracy_can_fall_below_closed_book_and_its_bounds_hold_it():
    q = quality()
    middle = q.long_context(2000, 0.5)                              # 20 passages of 100 tokens
    assert float(middle.value) == pytest.approx(0.5 + 0.4 * (-0.1))
    first = q.long_context(2000, 0.0)
    assert float(first.value) == pytest.approx(0.5 + 0.4 * 0.6)
    wide = quality(position=position(measured=False)).long_context(2000, 0.5)
    assert float(wide.low) < float(wide.value) < float(wide.high)


def test_rag_places_the_gold_passage_at_its_retrieval_rank():
    q = quality()
    weights = q.recall.rank_weights(10)
    assert weights.sum() == pytest.approx(1.0) and weights[0] == weights.max()
    rag = q.rag(10, 1000)
    evidence = q.rag_evidence(10)
    assert float(evidence.value) == pytest.approx(0.8)
    # the rank-weighted gain sits between the last and the first position's gain at 10 passages
    gain = (float(rag.value) - 0.5) / (0.4 * 0.8)
    assert 0.6 < gain < 0.8
    assert float(rag.low) < float(rag.value) < float(rag.high)      # recall's source band


def test_hops_and_unanswerable_share_lower_rag_evidence():
    two = quality(task=Task("multi", hops=2, answerable_by_retrieval=Band(0.5, 0.4, 0.6)))
    e = two.rag_evidence(10)
    assert float(e.value) == pytest.approx(0.8 ** 2 * 0.5)
    assert float(e.low) == pytest.approx(0.7 ** 2 * 0.4) and float(e.high) == pytest.approx(0.9 ** 2 * 0.6)


def test_self_route_share_and_kept_evidence():
    q = quality()
    assert q.fallback_share(10) == pytest.approx(0.2)
    assert q.fallback_share(10, override=0.3) == 0.3
    assert quality(routed_share=Band.exact(0.183)).fallback_share(10) == 0.183
    perfect, random = q.kept_evidence(10, 0.2, 1.0), q.kept_evidence(10, 0.2, 0.0)
    assert float(perfect.value) == pytest.approx(1.0) and float(random.value) == pytest.approx(0.8)


def test_combine_bounds_cover_every_corner():
    q = quality(closed_book=Band(0.5, 0.4, 0.6), oracle=Band(0.9, 0.85, 0.95))
    est = q.combine(Estimate.of(0.8, 0.7, 0.9), Estimate.of(0.9, 0.8, 1.0), Estimate.of(0.1, -0.2, 0.3))
    assert float(est.low) == pytest.approx(0.4 + (0.95 - 0.4) * 0.9 * 1.0 * -0.2)   # a negative position widens it
    assert float(est.low) <= float(est.value) <= float(est.high)
    assert float(est.high) == pytest.approx(0.6 + (0.95 - 0.6) * 0.9 * 1.0 * 0.3)
