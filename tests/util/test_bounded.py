from collections import OrderedDict

from seldon_py.util.bounded import put_bounded


def test_the_oldest_entries_beyond_the_bound_are_forgotten():
    kept: OrderedDict[int, str] = OrderedDict()
    for i in range(5):
        assert put_bounded(kept, i, f"v{i}", 3) == f"v{i}"
    assert list(kept.items()) == [(2, "v2"), (3, "v3"), (4, "v4")]
    put_bounded(kept, 3, "again", 3)  # put again: the most recent now
    put_bounded(kept, 5, "v5", 3)
    assert list(kept) == [4, 3, 5]
