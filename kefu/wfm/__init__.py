"""Workforce planning maths: queueing, forecasting, shrinkage, schedules, cost and simulation.

Plain Python with NumPy/SciPy/statsmodels/HiGHS; nothing in this package imports Django or another Kefu app.
Units: seconds for durations, Erlangs for load, fractions (0..1) for rates and targets.
"""
