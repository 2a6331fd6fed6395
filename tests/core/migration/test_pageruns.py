"""Page numbers grouped into runs: the one grouping reading, writing and framing share."""

from ldtui.core.migration.pageruns import page_runs


def test_consecutive_pages_make_one_run_each():
    assert list(page_runs([3, 4, 5, 9, 10, 20])) == [(3, 3), (9, 2), (20, 1)]


def test_no_pages_no_runs_and_a_repeat_or_a_step_back_starts_a_new_run():
    assert list(page_runs([])) == []
    assert list(page_runs([7, 7, 8, 2])) == [(7, 1), (7, 2), (2, 1)]
