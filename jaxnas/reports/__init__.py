"""Drivers behind the CLI and the experiment scripts: timing, progress, tables and plots.
Nothing here is imported by the library maths."""
