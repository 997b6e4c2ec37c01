"""The fast paths of a large import give exactly what the general paths give.

Jira timestamps, changelog parsing, SQLite datetime text, history rows of new items and parent links each have
a fast way for the common shape (a million status changes must import in seconds); these properties pin them
to the general way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from okrflow.connectors.jira import parser
from okrflow.domain.work import StatusChangeRecord, WorkRecord
from okrflow.services import imports, sources
from okrflow.store import bulk
from okrflow.store.models_work import StatusChange, WorkItem

JIRA_TEMPLATE = "2024-01-05T10:15:30.000+0000"
# characters a position of a Jira timestamp might hold: digits (also non-ASCII ones), separators, junk
CHARS = st.sampled_from([*"0123456789+-:.TZ tz,/", "٣", "０", "\x00", "é"])


def slow(value: str) -> datetime | Exception | None:
    try:
        return parser._slow_jira_datetime(value)
    except ValueError as exc:
        return exc


def same(a: object, b: object) -> bool:
    if isinstance(a, Exception) or isinstance(b, Exception):
        return type(a) is type(b) and str(a) == str(b)
    return a == b and (a is None or a.tzinfo is UTC)  # type: ignore[union-attr]


@st.composite
def jira_like(draw: st.DrawFn) -> str:
    """Jira's format with some positions replaced, or an arbitrary datetime with any whole-minute offset."""
    if draw(st.booleans()):
        chars = list(JIRA_TEMPLATE)
        for i in draw(st.lists(st.integers(0, len(chars) - 1), max_size=3)):
            chars[i] = draw(CHARS)
        return "".join(chars)
    at = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    minutes = draw(st.integers(-(24 * 60 - 1), 24 * 60 - 1))
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}{sign}{hh:02d}{mm:02d}"


@given(jira_like())
def test_fast_jira_timestamp_equals_the_general_parser(value: str) -> None:
    fast = parser._fast_jira_datetime(value)
    if fast is not None:
        assert same(fast, slow(value))
    try:
        public: datetime | Exception | None = parser.parse_jira_datetime(value)
    except ValueError as exc:
        public = exc
    assert same(public, slow(value))


@given(st.text(max_size=40))
def test_fast_jira_timestamp_never_takes_what_the_general_parser_rejects(value: str) -> None:
    fast = parser._fast_jira_datetime(value)
    if fast is not None:
        assert same(fast, slow(value))


def test_the_fast_path_takes_jiras_own_format() -> None:
    assert parser._fast_jira_datetime("2020-06-12T08:17:32.778+0800") == datetime(2020, 6, 12, 0, 17, 32, 778000, UTC)
    assert parser._fast_jira_datetime("2020-06-12T08:17:32.778+08:00") is None  # the general path reads this one


def reference_history(histories, config, where, names):  # the changelog reading before the fast paths
    status, changes = [], []
    for h in histories:
        try:
            at = parser._slow_jira_datetime(h.get("created")) if h.get("created") else None
        except ValueError as exc:
            raise parser.JiraParseError(f"{where}: changelog {h.get('id', '?')}: {exc}") from None
        if at is None:
            raise parser.JiraParseError(f"{where}: changelog {h.get('id', '?')} has no created time")
        author = parser._name(h.get("author"), "displayName") or ""
        for item in h.get("items") or ():
            fname, fid = str(item.get("field") or ""), str(item.get("fieldId") or "")
            if fname == "status" or fid == "status":
                status.append(
                    StatusChangeRecord(
                        at, parser._status_name(item, "to", names), parser._status_name(item, "from", names), author
                    )
                )
            elif fname.casefold() in config.tracked_fields or fid.casefold() in config.tracked_fields:
                changes.append(
                    parser.FieldChangeRecord(
                        at, fname, parser._text(item.get("fromString")), parser._text(item.get("toString")), author
                    )
                )
    order = sorted(range(len(status)), key=lambda i: status[i].at)
    return tuple(status[i] for i in order), tuple(sorted(changes, key=lambda c: c.at))


NAMES = st.one_of(st.none(), st.sampled_from(["To Do", "In Progress", "Done", "", "a\x00b"]), st.integers(0, 3))
ITEM = st.fixed_dictionaries(
    {
        "field": st.sampled_from(["status", "Status", "Sprint", "labels", None, ""]),
        "fieldId": st.sampled_from(["status", "sprint", "customfield_1", None]),
        "from": st.sampled_from(["1", "2", 3, None]),
        "to": st.sampled_from(["1", "2", 3, None]),
        "fromString": NAMES,
        "toString": NAMES,
    }
)
HISTORY = st.fixed_dictionaries(
    {
        "id": st.integers(1, 99).map(str),
        "created": st.sampled_from(
            [
                "2024-01-05T10:15:30.000+0000",
                "2024-01-05T10:15:30.000+0100",  # the same instant as the next one
                "2024-01-05T09:15:30Z",
                "2024-01-04T23:59:59.999-0500",
                "2023-12-31T23:00:00.000+0000",
            ]
        ),
        "author": st.one_of(
            st.none(),
            st.fixed_dictionaries({"displayName": NAMES}),
            st.just("not a mapping"),
        ),
        "items": st.lists(ITEM, max_size=3),
    }
)


@given(st.lists(HISTORY, max_size=8), st.sampled_from([{}, {"1": "Backlog", "3": "Live"}]))
@settings(max_examples=300)
def test_changelog_fast_paths_read_what_the_general_path_reads(histories, names) -> None:
    config = parser.FieldConfig()
    assert parser._history(histories, config, "issue X-1", names) == reference_history(
        histories, config, "issue X-1", names
    )


@given(st.lists(st.sampled_from(["okr:KR-1", "bench", "x okr:KR-2", "okr:KR-1", "okr:"]), max_size=6))
def test_kr_refs_memo_gives_what_the_pattern_gives(labels) -> None:
    for pattern in (parser.DEFAULT_KR_PATTERN, r"okr:(\S+)?", r"KR-\d"):
        config = parser.FieldConfig(kr_pattern=pattern)
        expected: list[object] = []
        for label in labels:
            m = config._kr_re.fullmatch(label) or config._kr_re.search(label)
            if m:
                ref = m.group(1) if m.groups() else m.group(0)
                if ref not in expected:
                    expected.append(ref)
        assert config.kr_refs(labels) == tuple(expected)
        assert config.kr_refs(labels) == tuple(expected)  # again, from the memo


def reference_sqlite_datetime(value: datetime) -> str:
    v = value.astimezone(UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from(
        [UTC, timezone(timedelta(0)), timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)
def test_sqlite_datetime_text_is_sqlalchemys_format(at: datetime, tz: timezone) -> None:
    value = at.replace(tzinfo=tz)
    assert bulk._sqlite_datetime(value) == reference_sqlite_datetime(value)


def test_sqlite_datetime_rejects_naive_values() -> None:
    assert bulk._sqlite_datetime(None) is None
    with pytest.raises(ValueError, match="naive"):
        bulk._sqlite_datetime(datetime(2024, 1, 1))


# ------------------------------------------------------------------ on both engines

T0 = datetime(2026, 9, 1, 9, tzinfo=UTC)


@pytest.fixture
def source_id(db, admin_setup, admin_actor):
    with db.write() as s:
        return sources.create_source(s, admin_actor, admin_setup.workspace_id, "jira-cloud", "jira").id


def item(n: int, *, parent: str | None = None, history=()) -> WorkRecord:
    return WorkRecord(
        external_id=str(n),
        key=f"K-{n}",
        issue_type="Story",
        status="Done",
        created=T0,
        parent_external_id=parent,
        history=tuple(history),
    )


def test_repeated_events_of_a_new_item_are_stored_once(db, admin_actor, source_id):
    a = StatusChangeRecord(T0 + timedelta(hours=1), "In Progress", "To Do", "ann")
    b = StatusChangeRecord(T0 + timedelta(hours=2), "Done", "In Progress", "bob")
    same_event_other_author = StatusChangeRecord(a.at, "In Progress", "To Do", "eve")
    result = imports.import_records(
        db, admin_actor, source_id, [item(1, history=[a, b, same_event_other_author]), item(2, history=[a, b])]
    )
    assert result.status_changes == 4
    with db.read() as s:
        rows = s.execute(
            select(WorkItem.external_id, StatusChange.to_status, StatusChange.author)
            .join(WorkItem, WorkItem.id == StatusChange.work_item_id)
            .order_by(WorkItem.external_id, StatusChange.at)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("1", "In Progress", "ann"),
        ("1", "Done", "bob"),
        ("2", "In Progress", "ann"),
        ("2", "Done", "bob"),
    ]


def parents(db) -> dict[str, str | None]:
    with db.read() as s:
        by_id = dict(s.execute(select(WorkItem.id, WorkItem.external_id)).all())
        return {ext: by_id.get(pid) for ext, pid in s.execute(select(WorkItem.external_id, WorkItem.parent_id))}


def test_parent_links_follow_the_records_across_runs(db, admin_actor, source_id):
    imports.import_records(db, admin_actor, source_id, [item(2, parent="1"), item(3, parent="2"), item(4, parent="")])
    assert parents(db) == {"2": None, "3": "2", "4": None}  # the parent of 2 is not imported yet
    imports.import_records(db, admin_actor, source_id, [item(1)])
    assert parents(db) == {"1": None, "2": "1", "3": "2", "4": None}
    imports.import_records(db, admin_actor, source_id, [item(3, parent="1"), item(2)])
    assert parents(db) == {"1": None, "2": None, "3": "1", "4": None}
    # within one run: a child before its parent, a parent before its child, a chain
    imports.import_records(db, admin_actor, source_id, [item(5, parent="6"), item(6), item(7, parent="6")])
    imports.import_records(db, admin_actor, source_id, [item(8, parent="9"), item(9, parent="10"), item(10)])
    assert parents(db) == {"1": None, "2": None, "3": "1", "4": None, "5": "6", "6": None, "7": "6"} | {
        "8": "9",
        "9": "10",
        "10": None,
    }
    with db.read() as s:  # the ids are the ones the database hands out: consecutive, in record order
        ids = s.execute(select(WorkItem.id, WorkItem.external_id).order_by(WorkItem.id)).all()
    assert [i for i, _ in ids] == list(range(ids[0][0], ids[0][0] + 10))
    assert [ext for _, ext in ids] == ["2", "3", "4", "1", "5", "6", "7", "8", "9", "10"]


def test_gc_pause_nests_and_restores_the_collector() -> None:
    import gc

    assert gc.isenabled()
    with imports.gc_paused():
        assert not gc.isenabled()
        with imports.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with imports.gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
