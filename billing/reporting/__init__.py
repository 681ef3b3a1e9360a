"""Figures and exports: the dashboard, the subscription shapes its estimates are priced by, the
billing data and the streamed exports."""
