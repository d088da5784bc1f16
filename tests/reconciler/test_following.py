from servegate.reconciler.following import VersionFollower


def test_reference_moves_only_when_target_is_ready() -> None:
    follower = VersionFollower()
    ready = {"3"}
    first = follower.follow("prod", "3", ready.__contains__)
    assert (first.current, first.needed, first.moving) == ("3", ["3"], False)

    moving = follower.follow("prod", "4", ready.__contains__)
    assert (moving.current, moving.target, moving.needed) == ("3", "4", ["3", "4"])
    assert moving.moving

    ready.add("4")
    moved = follower.follow("prod", "4", ready.__contains__)
    assert (moved.current, moved.needed) == ("4", ["4"])


def test_first_resolution_is_taken_at_once_and_a_vanished_target_keeps_current() -> None:
    follower = VersionFollower()
    assert follower.follow("a", "1", lambda v: False).current == "1"
    kept = follower.follow("a", None, lambda v: False)
    assert (kept.current, kept.needed) == ("1", ["1"])


def test_unseen_references_are_forgotten() -> None:
    follower = VersionFollower()
    follower.follow("a", "1", lambda v: True)
    follower.forget_unseen()
    follower.forget_unseen()
    assert follower.follow("a", None, lambda v: True).current is None
