"""Figures and exports: the dashboard, billing data and the streamed exports."""
