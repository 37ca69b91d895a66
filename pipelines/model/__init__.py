"""The shared model: definitions both the refresh and the dashboard compute with.

The metric thresholds (``config``), which sessions count and the day-0 cohort (``sessions``),
the outcome rule table (``outcome_rules``), each patient's outcomes under those rules
(``patient_outcomes``) and each clinic's data freshness (``freshness``). The refresh stores
some of these per patient (``pipelines.marts``); the dashboard's metrics aggregate them. Both
import this package, so each definition exists once. It imports only ``pipelines.contract``
and libraries.
"""
