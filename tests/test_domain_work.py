"""Type and status mappings: defaults for Jira, Rally and Aha!, any language, unmapped names reported."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from okrflow.domain.work import (
    DEFAULT_MAPPINGS,
    FlowItemType,
    Level,
    StatusRule,
    Step,
    TypeRule,
    WorkMapping,
    check_mapping,
    is_backward,
    normalise,
)

jira = DEFAULT_MAPPINGS["jira"]


def test_jira_defaults():
    assert jira.type_rule("Epic") == TypeRule(Level.EPIC, FlowItemType.FEATURE)
    assert jira.type_rule("story").level is Level.STORY
    assert jira.type_rule("BUG").flow_type is FlowItemType.DEFECT
    assert jira.type_rule("Sub-task").level is Level.TASK
    assert jira.type_rule("Spike") is None  # custom types must be mapped


def test_rally_and_aha_defaults():
    rally = DEFAULT_MAPPINGS["rally"]
    assert rally.type_rule("PortfolioItem/Initiative").level is Level.INITIATIVE
    assert rally.type_rule("HierarchicalRequirement").level is Level.STORY
    assert rally.type_rule("Defect").flow_type is FlowItemType.DEFECT
    release = DEFAULT_MAPPINGS["aha"].type_rule("Release")
    assert release is not None and release.level is None and "not a work item" in release.note


def test_statuses_match_case_insensitively_in_any_language():
    m = WorkMapping(
        statuses={"已完成": StatusRule(Step.DONE), "In Progress": StatusRule(Step.DEVELOPMENT, active=True)}
    )
    assert m.status_rule("已完成").step is Step.DONE
    assert m.status_rule("  in   PROGRESS ").active
    assert normalise("STRASSE") == normalise("straße")


def test_category_fallback_is_reported_not_silent():
    report = check_mapping(
        jira, ["Story", "故事", "Spike"], [("In Progress", "indeterminate"), ("待办", "new"), ("Odd", None)]
    )
    assert report.unmapped_types == ("Spike", "故事")
    assert report.by_category == ("待办",)
    assert report.unmapped_statuses == ("Odd",)
    assert not report.complete
    assert jira.status_rule("待办", "new").step is Step.BACKLOG


def test_workspace_rules_override_defaults():
    custom = jira.merged(
        WorkMapping(types={"Story": TypeRule(Level.FEATURE), "Spike": TypeRule(Level.TASK, FlowItemType.RISK)})
    )
    assert custom.type_rule("story").level is Level.FEATURE
    assert custom.type_rule("Spike").flow_type is FlowItemType.RISK
    assert custom.type_rule("Bug").flow_type is FlowItemType.DEFECT


@given(st.sampled_from(list(Step)), st.sampled_from(list(Step)))
def test_backward_iff_earlier_step(a, b):
    assert is_backward(a, b) == (b.order < a.order)
    assert not is_backward(None, b)


def test_levels_are_ordered():
    assert [lv.depth for lv in Level] == list(range(6))
