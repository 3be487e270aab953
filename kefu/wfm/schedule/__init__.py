"""Shift scheduling: lay shift templates over the required-staff curve and give them to named agents, solved
as HiGHS mixed-integer programmes (least under-coverage first, then least cost), with coverage and
service-level reports. See docs/planning/scheduling.md."""

from kefu.wfm.schedule.milp import Assignment, Instance, Schedule, StageReport, solve_schedule
from kefu.wfm.schedule.model import (
    Agent,
    Break,
    Requirements,
    ShiftTemplate,
    agents_from_rows,
    read_agents,
    read_requirements,
    read_shifts,
    requirements_from_rows,
    shifts_from_rows,
)
from kefu.wfm.schedule.report import coverage_rows, expected_service_level, schedule_rows, summary, write_csv

__all__ = [
    "Agent",
    "Assignment",
    "Break",
    "Instance",
    "Requirements",
    "Schedule",
    "ShiftTemplate",
    "StageReport",
    "agents_from_rows",
    "coverage_rows",
    "expected_service_level",
    "read_agents",
    "read_requirements",
    "read_shifts",
    "requirements_from_rows",
    "schedule_rows",
    "shifts_from_rows",
    "solve_schedule",
    "summary",
    "write_csv",
]
