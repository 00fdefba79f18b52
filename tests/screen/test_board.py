"""The message board over a real SQLite state database: replace by id, time windows,
states, connectors and transactions, the order of priorities, and what survives a
reopen (OCPP 2.0.1 O01-O06, TC_O_20_CS's persistence)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.screen import DriverMessage
from agent.screen.board import MessageBoard
from agent.store import Database

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _open(path: Path) -> tuple[Database, MessageBoard]:
    db = Database(path)
    db.open()
    return db, MessageBoard(db)


def _ids(messages: list[DriverMessage]) -> list[int]:
    return [m.id for m in messages]


def test_a_message_put_again_with_its_id_replaces_it(tmp_path: Path) -> None:
    db, board = _open(tmp_path)
    board.put(DriverMessage(1, "first"))
    board.put(DriverMessage(2, "other"))
    board.put(DriverMessage(1, "second", priority="InFront"))
    assert [(m.id, m.text, m.priority) for m in board.messages()] == [(1, "second", "InFront"), (2, "other",
                                                                                                 "NormalCycle")]
    assert board.remove(1) is True
    assert board.remove(1) is False
    assert _ids(board.messages()) == [2]
    db.close()


def test_messages_survive_a_reopen_whole(tmp_path: Path) -> None:
    db, board = _open(tmp_path)
    kept = DriverMessage(7, "Bienvenue", priority="AlwaysFront", format="UTF8", language="fr", state="Idle",
                         start=NOW, end=NOW + timedelta(hours=1), transaction="tx-1", evse=2)
    board.put(kept)
    board.put(DriverMessage(8, "gone"))
    board.remove(8)
    db.close()
    db, board = _open(tmp_path)
    assert board.messages() == [kept]
    db.close()


def test_only_messages_inside_their_window_show_and_expired_ones_are_forgotten(tmp_path: Path) -> None:
    db, board = _open(tmp_path)
    board.put(DriverMessage(1, "later", start=NOW + timedelta(minutes=5)))
    board.put(DriverMessage(2, "until soon", end=NOW + timedelta(minutes=5)))
    board.put(DriverMessage(3, "always"))
    assert _ids(board.showing(NOW, 1, "Idle", None)) == [2, 3]
    after = NOW + timedelta(minutes=5)
    assert _ids(board.showing(after, 1, "Idle", None)) == [1, 3]
    assert board.expire(after) == [2]
    assert _ids(board.messages()) == [1, 3]
    db.close()
    db, board = _open(tmp_path)
    assert _ids(board.messages()) == [1, 3]  # the removal was durable
    db.close()


def test_state_connector_and_transaction_limit_where_a_message_shows(tmp_path: Path) -> None:
    db, board = _open(tmp_path)
    board.put(DriverMessage(1, "charging only", state="Charging"))
    board.put(DriverMessage(2, "faulted only", state="Faulted"))
    board.put(DriverMessage(3, "connector 2", evse=2))
    board.put(DriverMessage(4, "whole station", evse=0))
    board.put(DriverMessage(5, "this session", transaction="tx-a", evse=1))
    assert _ids(board.showing(NOW, 1, "Charging", "tx-a")) == [1, 4, 5]
    assert _ids(board.showing(NOW, 1, "Charging", "tx-b")) == [1, 4]
    assert _ids(board.showing(NOW, 2, "Faulted", None)) == [2, 3, 4]
    assert _ids(board.showing(NOW, 1, "Idle", None)) == [4]
    board.end_transaction("tx-a")
    assert _ids(board.messages()) == [1, 2, 3, 4]
    db.close()


def test_always_front_first_the_latest_of_them_leading_then_in_front_then_normal_cycle(tmp_path: Path) -> None:
    db, board = _open(tmp_path)
    board.put(DriverMessage(1, "normal"))
    board.put(DriverMessage(2, "front A", priority="InFront"))
    board.put(DriverMessage(3, "always A", priority="AlwaysFront"))
    board.put(DriverMessage(4, "front B", priority="InFront"))
    board.put(DriverMessage(5, "always B", priority="AlwaysFront"))
    assert _ids(board.showing(NOW, 1, "Idle", None)) == [5, 3, 2, 4, 1]
    board.put(DriverMessage(3, "always A again", priority="AlwaysFront"))  # replaced: now the latest
    assert _ids(board.showing(NOW, 1, "Idle", None)) == [3, 5, 2, 4, 1]
    db.close()
    db, board = _open(tmp_path)
    assert _ids(board.showing(NOW, 1, "Idle", None)) == [3, 5, 2, 4, 1]  # the order survives too
    db.close()


async def test_a_transaction_s_messages_are_forgotten_off_the_event_loop_when_it_ends(tmp_path: Path) -> None:
    """O02 with the real board: the durable delete (an fsync) runs on the database thread,
    never on the event loop, and the message is gone from memory and from the disk."""
    import threading

    from agent.screen import DriverFeedback

    db, board = _open(tmp_path)
    loop_thread = threading.current_thread()
    writers: list[threading.Thread] = []
    transaction = db.transaction

    def watched(work):  # type: ignore[no-untyped-def]
        writers.append(threading.current_thread())
        return transaction(work)

    db.transaction = watched  # type: ignore[method-assign]
    try:
        board.put(DriverMessage(4, "Thanks", transaction="tx-4"))
        board.put(DriverMessage(5, "Welcome"))
        feedback = DriverFeedback([1])
        feedback.board = board
        feedback.transaction_started(1, "tx-4")
        feedback.transaction_stopped(1, 2.0)
        assert writers == []  # nothing written on the loop by the stop itself
        await feedback.forget_ended()
        assert writers and all(t is not loop_thread for t in writers)
        assert _ids(board.messages()) == [5]
    finally:
        db.close()
    db, board = _open(tmp_path)
    assert _ids(board.messages()) == [5]
    db.close()
