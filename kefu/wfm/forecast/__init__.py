"""Forecasting calls offered and AHT per interval from interval history (ICMI step 3), with backtests.

Typical use: `forecast(read_history("history.csv"), ForecastOptions(horizon_days=28))`, then
`write_forecast(path, result.rows(), with_aht=result.has_aht)`.
"""

from __future__ import annotations

from kefu.wfm.forecast.aht import aht_profile, aht_trend_factor
from kefu.wfm.forecast.backtest import Accuracy, accuracy, rolling_origins, seasonal_naive
from kefu.wfm.forecast.calendar import ALLOWED_INTERVAL_MINUTES, opening_pattern, weekday_open
from kefu.wfm.forecast.cleaning import REPAIRS, Cleaned, CleaningOptions, CleaningReport, Repair, clean
from kefu.wfm.forecast.engine import (
    SEASONAL_NAIVE,
    Forecast,
    ForecastOptions,
    MethodChoice,
    QueueForecast,
    forecast,
    forecast_queue,
)
from kefu.wfm.forecast.events import Event, Override, read_events, read_overrides
from kefu.wfm.forecast.io import (
    DEFAULT_QUEUE,
    ForecastRow,
    History,
    QueueHistory,
    Table,
    history_from_table,
    read_history,
    read_table,
    write_forecast,
)
from kefu.wfm.forecast.methods import METHODS, DailyHistory, Method, forecast_daily, interval_profile

__all__ = [
    "ALLOWED_INTERVAL_MINUTES",
    "DEFAULT_QUEUE",
    "METHODS",
    "REPAIRS",
    "SEASONAL_NAIVE",
    "Accuracy",
    "Cleaned",
    "CleaningOptions",
    "CleaningReport",
    "DailyHistory",
    "Event",
    "Forecast",
    "ForecastOptions",
    "ForecastRow",
    "History",
    "Method",
    "MethodChoice",
    "Override",
    "QueueForecast",
    "QueueHistory",
    "Repair",
    "Table",
    "accuracy",
    "aht_profile",
    "aht_trend_factor",
    "clean",
    "forecast",
    "forecast_daily",
    "forecast_queue",
    "history_from_table",
    "interval_profile",
    "opening_pattern",
    "read_events",
    "read_history",
    "read_overrides",
    "read_table",
    "rolling_origins",
    "seasonal_naive",
    "weekday_open",
    "write_forecast",
]
